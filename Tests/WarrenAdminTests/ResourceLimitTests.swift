import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import WarrenControl
import WarrenCore

@testable import WarrenServer

/// Numbers a test sets, read by the resource monitor instead of the system's.
final class FakeResources: @unchecked Sendable {
    private let lock = NSLock()
    private var _free: UInt64 = 10_000_000_000
    private var _used: UInt64 = 100_000_000
    let total: UInt64 = 1_000_000_000

    var free: UInt64 {
        get { lock.withLock { _free } }
        set { lock.withLock { _free = newValue } }
    }
    var used: UInt64 {
        get { lock.withLock { _used } }
        set { lock.withLock { _used = newValue } }
    }

    var sources: ResourceMonitor.Sources {
        ResourceMonitor.Sources(freeDisk: { _ in self.free }, memoryUsed: { self.used }, totalMemory: { self.total })
    }
}

/// What a monitor told the connections, in order.
final class Notifications: @unchecked Sendable {
    private let lock = NSLock()
    private var _events: [[AlarmResource]] = []
    var events: [[AlarmResource]] { lock.withLock { _events } }
    func append(_ raised: [AlarmResource]) { lock.withLock { _events.append(raised) } }

    /// Waits (up to 5 s) until `count` notifications arrived.
    func wait(for count: Int) async throws {
        for _ in 0..<500 where events.count < count { try await Task.sleep(for: .milliseconds(10)) }
    }
}

@Suite(.serialized) struct ResourceMonitorTests {
    static let quiet: Logger = {
        var logger = Logger(label: "test.alarms")
        logger.logLevel = .critical
        return logger
    }()

    /// A monitor on its own loop reading `FakeResources`, started with these limits.
    func withMonitor(
        _ watermark: MemoryWatermark, interval: TimeAmount,
        _ body: (ResourceMonitor, FakeResources, Notifications) async throws -> Void
    ) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fake = FakeResources()
        let monitor = ResourceMonitor(loop: group.next(), logger: Self.quiet, sources: fake.sources)
        let seen = Notifications()
        monitor.start(
            diskPath: "/data", diskFreeLimit: .absolute(50_000_000), memoryWatermark: watermark, interval: interval
        ) { seen.append($0) }
        try await body(monitor, fake, seen)
        monitor.stop()
        try await group.shutdownGracefully()
    }

    @Test func measuresEachTickAndNotifiesOnlyChangesOfTheRaisedSet() async throws {
        try await withMonitor(.relative(0.4), interval: .milliseconds(10)) { monitor, fake, seen in
            try await Task.sleep(for: .milliseconds(50))
            #expect(seen.events.isEmpty)
            #expect(monitor.snapshot.memoryLimit == 400_000_000)

            fake.used = 500_000_000
            try await seen.wait(for: 1)
            fake.free = 1_000
            try await seen.wait(for: 2)
            fake.used = 100_000_000
            try await seen.wait(for: 3)
            fake.free = 10_000_000_000
            try await seen.wait(for: 4)
            try await Task.sleep(for: .milliseconds(50))
            #expect(seen.events == [[.memory], [.disk, .memory], [.disk], []])
        }
    }

    @Test func newLimitsTakeEffectAtOnce() async throws {
        // A long interval: only the first measurement and the new limits can change anything.
        try await withMonitor(.absolute(10_000_000), interval: .seconds(3600)) { monitor, _, seen in
            try await seen.wait(for: 1)
            #expect(monitor.raised == [.memory])
            await monitor.setMemoryWatermark(.relative(0.9))
            #expect(monitor.raised == [])
            #expect(monitor.snapshot.memoryLimit == 900_000_000)
            await monitor.setDiskFreeLimit(.memoryRelative(20))
            #expect(monitor.raised == [.disk])
            #expect(monitor.snapshot.diskFreeLimit == 20_000_000_000)
            await monitor.setDiskFreeLimit(.absolute(1_000))
            #expect(seen.events == [[.memory], [], [.disk], []])
        }
    }
}

/// set_vm_memory_high_watermark, set_disk_free_limit and status through the real warrenctl and
/// the broker's control handler, with the monitor reading a test's numbers.
@Suite(.serialized) struct ResourceLimitCommandTests {
    func withBroker(_ body: (ControlHarness, BrokerRuntime, FakeResources) async throws -> Void) async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let fake = FakeResources()
        let users = try UserDirectory(dataDirectory: nil, seed: .seeded(), loopbackUsers: [])
        let runtime = try BrokerRuntime(
            group: group, dataDirectory: nil, users: users, logger: ResourceMonitorTests.quiet,
            resourceSources: fake.sources)
        runtime.alarms.start(
            diskPath: "/data", diskFreeLimit: .absolute(50_000_000), memoryWatermark: .default,
            interval: .seconds(3600)
        ) { _ in }
        let harness = try await ControlHarness(handler: BrokerControlHandler(runtime: runtime))
        do {
            try await body(harness, runtime, fake)
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
        await runtime.shutdown()
        try await group.shutdownGracefully()
    }

    @Test func setVmMemoryHighWatermark() async throws {
        try await withBroker { broker, runtime, _ in
            let node = NodeName.local
            let absolute = try await broker.warrenctl("set_vm_memory_high_watermark", "absolute", "50MB")
            #expect(absolute.status == 0, "\(absolute)")
            #expect(absolute.stdout == "Setting memory threshold on \(node) to 50MB bytes ...\n")
            #expect(runtime.alarms.raised == [.memory])
            #expect(runtime.alarms.snapshot.memoryWatermark == .absolute(50_000_000))

            let relative = try await broker.warrenctl("set_vm_memory_high_watermark", "0.5")
            #expect(relative.stdout == "Setting memory threshold on \(node) to 0.5 ...\n")
            #expect(runtime.alarms.raised == [])
            #expect(runtime.alarms.snapshot.memoryLimit == 500_000_000)

            let quiet = try await broker.warrenctl("-q", "set_vm_memory_high_watermark", "absolute", "1G")
            #expect(quiet.status == 0 && quiet.stdout.isEmpty)
            #expect(runtime.alarms.snapshot.memoryWatermark == .absolute(1 << 30))
        }
    }

    @Test(arguments: [
        (["1.5"], 65, "Bad argument: The threshold should be a fraction between 0.0 and 1.0"),
        (["-1"], 65, "Bad argument: The threshold should be a fraction between 0.0 and 1.0"),
        (["abc"], 65, "Bad argument."), ([".5"], 65, "Bad argument."),
        (["absolute", "1.5GB"], 65, "Bad argument: The threshold should be an integer."),
        (["absolute", "1gb"], 65, "Bad argument: Invalid units."),
        (["absolute", "abc"], 65, "Bad argument."),
        (["absolute"], 64, "not enough arguments."), ([], 64, "not enough arguments."),
        (["0.4", "0.5"], 64, "too many arguments."), (["absolute", "1GB", "x"], 64, "too many arguments."),
    ])
    func setVmMemoryHighWatermarkRejectsWhatRabbitmqctlRejects(
        words: [String], status: Int32, message: String
    )
        async throws
    {
        try await withBroker { broker, runtime, _ in
            let run = try await ControlHarness.warrenctl(
                ["set_vm_memory_high_watermark"] + words + ["--data-dir", broker.dataDirectory])
            #expect(run.status == status, "\(run)")
            #expect(run.stdout.isEmpty)
            #expect(run.stderr.hasPrefix("Error (argument validation): \(message)\n"), "\(run)")
            #expect(runtime.alarms.snapshot.memoryWatermark == .default)
        }
    }

    @Test func setDiskFreeLimit() async throws {
        try await withBroker { broker, runtime, _ in
            let node = NodeName.local
            let high = try await broker.warrenctl("set_disk_free_limit", "20GB")
            #expect(high.status == 0, "\(high)")
            #expect(high.stdout == "Setting disk free limit on \(node) to 20GB bytes ...\n")
            #expect(runtime.alarms.raised == [.disk])
            let relative = try await broker.warrenctl("set_disk_free_limit", "mem_relative", "1.5")
            #expect(relative.stdout == "Setting disk free limit on \(node) to 1.5 times the total RAM ...\n")
            #expect(runtime.alarms.snapshot.diskFreeLimit == 1_500_000_000)
            #expect(runtime.alarms.raised == [])
            let negative = try await broker.warrenctl("set_disk_free_limit", "-5")
            #expect(negative.status == 0)
            #expect(runtime.alarms.snapshot.diskFreeLimit == 0)
            for bad in [["1gb"], ["1.5GB"], ["abc"], ["mem_relative", "-1"], ["mem_relative", "abc"]] {
                let run = try await ControlHarness.warrenctl(
                    ["set_disk_free_limit"] + bad + ["--data-dir", broker.dataDirectory])
                #expect(run.status == 65, "\(run)")
                #expect(run.stderr.hasPrefix("Error (argument validation): Bad argument.\n"))
            }
            let none = try await broker.warrenctl("set_disk_free_limit")
            #expect(none.status == 64)
            let many = try await broker.warrenctl("set_disk_free_limit", "1GB", "2")
            #expect(many.status == 64)
        }
    }

    @Test func statusShowsMemoryLimitsAndAlarms() async throws {
        try await withBroker { broker, runtime, fake in
            fake.used = 123_456_789
            await runtime.alarms.setMemoryWatermark(.absolute(10_000_000))
            let json = try await broker.warrenctl("status", "--formatter", "json")
            #expect(json.status == 0, "\(json)")
            let status = try #require(
                try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
            #expect(status["vm_memory_high_watermark_limit"] as? Int == 10_000_000)
            #expect((status["vm_memory_high_watermark_setting"] as? [String: Int]) == ["absolute": 10_000_000])
            #expect(status["vm_memory_calculation_strategy"] as? String == "rss")
            let memory = try #require(status["memory"] as? [String: Any])
            #expect((memory["total"] as? [String: Int]) == ["rss": 123_456_789])
            #expect(status["disk_free_limit"] as? Int == 50_000_000)
            #expect(status["disk_free"] as? Int == 10_000_000_000)
            let alarms = try #require(status["alarms"] as? [[String: String]])
            #expect(alarms == [["node": NodeName.local, "resource": "memory", "type": "resource_limit"]])

            let text = try await broker.warrenctl("status")
            #expect(text.stdout.contains("Alarms\n\nMemory alarm on node \(NodeName.local)\n"), "\(text)")
            #expect(
                text.stdout.contains(
                    """
                    Memory

                    Total memory used: 0.1235 gb
                    Calculation strategy: rss
                    Memory high watermark setting: 0.01 gb, computed to: 0.01 gb

                    """), "\(text)")
            #expect(text.stdout.contains("Low free disk space watermark: 0.05 gb\nFree disk space: 10.0 gb\n"))

            await runtime.alarms.setMemoryWatermark(.relative(0.4))
            let cleared = try await broker.warrenctl("status")
            #expect(cleared.stdout.contains("Alarms\n\n(none)\n"))
            #expect(
                cleared.stdout.contains(
                    "Memory high watermark setting: 0.4 of available memory, computed to: 0.4 gb\n"), "\(cleared)")
        }
    }
}
