import Logging
import NIOConcurrencyHelpers
import NIOCore

/// `disk_free_limit`: an absolute number of bytes, or a multiple of the memory available
/// (rabbitmqctl's `set_disk_free_limit mem_relative 1.5`).
public enum DiskFreeLimit: Sendable, Hashable {
    case absolute(UInt64)
    case memoryRelative(Double)

    func limit(totalMemory: UInt64) -> UInt64 {
        switch self {
        case .absolute(let bytes): return bytes
        case .memoryRelative(let factor):
            let bytes = (Double(totalMemory) * max(factor, 0)).rounded(.towardZero)
            return bytes >= Double(UInt64.max) ? UInt64.max : UInt64(bytes)
        }
    }
}

/// The broker's resource alarms: every second it measures free disk space in the data
/// directory and the broker's resident memory, and when the set of raised alarms changes it
/// tells every connection (`ResourceAlarmEvent`). Its state changes only on its own event loop,
/// so connections see the changes in order; readers take a lock.
public final class ResourceMonitor: Sendable {
    /// Where measurements come from: the system, or a test's numbers.
    public struct Sources: Sendable {
        var freeDisk: @Sendable (String) -> UInt64?
        var memoryUsed: @Sendable () -> UInt64?
        var totalMemory: @Sendable () -> UInt64?

        public init(
            freeDisk: @escaping @Sendable (String) -> UInt64?, memoryUsed: @escaping @Sendable () -> UInt64?,
            totalMemory: @escaping @Sendable () -> UInt64?
        ) {
            self.freeDisk = freeDisk
            self.memoryUsed = memoryUsed
            self.totalMemory = totalMemory
        }

        public static let system = Sources(
            freeDisk: { freeDiskBytes(at: $0) }, memoryUsed: { SystemMemory.residentBytes() },
            totalMemory: { SystemMemory.totalBytes() })
    }

    /// What `status` shows.
    public struct Snapshot: Sendable {
        public var raised: [AlarmResource]
        public var memoryUsed: UInt64?
        public var memoryLimit: UInt64
        public var memoryWatermark: MemoryWatermark
        public var totalMemory: UInt64
        public var diskFree: UInt64?
        public var diskFreeLimit: UInt64
    }

    private struct State {
        var alarms: ResourceAlarms
        var memoryWatermark = MemoryWatermark.default
        var diskFreeLimit = DiskFreeLimit.absolute(50_000_000)
        var totalMemory: UInt64 = 0
        var diskPath: String?
        var notify: (@Sendable ([AlarmResource]) -> Void)?
    }

    private let loop: any EventLoop
    private let logger: Logger
    private let sources: Sources
    private let state: NIOLockedValueBox<State>
    private let timer = NIOLockedValueBox<RepeatedTask?>(nil)

    public init(loop: any EventLoop, logger: Logger, sources: Sources = .system) {
        self.loop = loop
        self.logger = logger
        self.sources = sources
        // Nothing is raised before `start`: limits no measurement can cross.
        state = NIOLockedValueBox(State(alarms: ResourceAlarms(diskFreeLimit: 0, memoryLimit: .max)))
    }

    /// Starts measuring every `interval`: free space under `diskPath` (nil: the disk is not
    /// watched) and resident memory. `notify` gets the raised resources whenever they change.
    public func start(
        diskPath: String?, diskFreeLimit: DiskFreeLimit, memoryWatermark: MemoryWatermark,
        interval: TimeAmount = .seconds(1), notify: @escaping @Sendable ([AlarmResource]) -> Void
    ) {
        loop.execute { [self] in
            let total = sources.totalMemory() ?? 0
            state.withLockedValue {
                $0.diskPath = diskPath
                $0.notify = notify
                $0.totalMemory = total
                $0.diskFreeLimit = diskFreeLimit
                $0.memoryWatermark = memoryWatermark
                $0.alarms.disk.limit = diskFreeLimit.limit(totalMemory: total)
                $0.alarms.memory.limit = memoryWatermark.limit(totalMemory: total)
            }
            logWatermark(limit: memoryWatermark.limit(totalMemory: total), total: total)
            check()
            let task = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in check() }
            timer.withLockedValue { $0 = task }
        }
    }

    public func stop() {
        timer.withLockedValue { $0?.cancel() }
    }

    /// The resources whose alarm is raised now.
    public var raised: [AlarmResource] { state.withLockedValue { $0.alarms.raised } }

    public var snapshot: Snapshot {
        state.withLockedValue {
            Snapshot(
                raised: $0.alarms.raised, memoryUsed: $0.alarms.memory.measured, memoryLimit: $0.alarms.memory.limit,
                memoryWatermark: $0.memoryWatermark, totalMemory: $0.totalMemory, diskFree: $0.alarms.disk.measured,
                diskFreeLimit: $0.alarms.disk.limit)
        }
    }

    /// A new memory high watermark, in effect at once (as `set_vm_memory_high_watermark`).
    public func setMemoryWatermark(_ watermark: MemoryWatermark) async {
        try? await loop.submit { [self] in
            let total = sources.totalMemory() ?? state.withLockedValue { $0.totalMemory }
            state.withLockedValue {
                $0.totalMemory = total
                $0.memoryWatermark = watermark
            }
            let limit = watermark.limit(totalMemory: total)
            logWatermark(limit: limit, total: total)
            apply(.memory) { $0.setLimit(limit, measuring: sources.memoryUsed()) }
        }.get()
    }

    /// A new free disk space limit, in effect at once (as `set_disk_free_limit`).
    public func setDiskFreeLimit(_ limit: DiskFreeLimit) async {
        try? await loop.submit { [self] in
            let (total, path) = state.withLockedValue {
                $0.diskFreeLimit = limit
                return ($0.totalMemory, $0.diskPath)
            }
            let bytes = limit.limit(totalMemory: total)
            logger.info("Disk free limit set to \(bytes / 1_000_000) MB (\(bytes) bytes)")
            apply(.disk) { $0.setLimit(bytes, measuring: path.flatMap(sources.freeDisk)) }
        }.get()
    }

    /// One measurement of each resource (on the loop).
    private func check() {
        if let path = state.withLockedValue({ $0.diskPath }), let free = sources.freeDisk(path) {
            apply(.disk) { $0.update(free) }
        }
        if let used = sources.memoryUsed() {
            apply(.memory) { $0.update(used) }
        }
    }

    /// Changes one resource's threshold; on a transition, logs it and tells the connections.
    private func apply(_ resource: AlarmResource, _ change: (inout ResourceThreshold) -> ResourceThreshold.Transition?)
    {
        let (transition, threshold, raised, notify, path) = state.withLockedValue { state in
            let transition = change(&state.alarms[resource])
            return (transition, state.alarms[resource], state.alarms.raised, state.notify, state.diskPath ?? "")
        }
        guard let transition else { return }
        let measured = threshold.measured ?? 0
        switch (resource, transition) {
        case (.disk, .raised):
            logger.warning(
                "disk alarm: \(measured) bytes free in \(path), below the limit of \(threshold.limit); publishers are blocked"
            )
        case (.disk, .cleared):
            logger.notice("disk alarm cleared: \(measured) bytes free in \(path), limit \(threshold.limit)")
        case (.memory, .raised):
            logger.warning(
                "memory alarm: the broker uses \(measured) bytes of memory, above the limit of \(threshold.limit) (vm_memory_high_watermark); publishers are blocked"
            )
        case (.memory, .cleared):
            logger.notice("memory alarm cleared: the broker uses \(measured) bytes of memory, limit \(threshold.limit)")
        }
        if transition == .cleared {
            if raised.isEmpty {
                logger.notice("no resource alarm is raised; publishers may continue")
            } else {
                logger.notice(
                    "publishers stay blocked: \(raised.map(\.rawValue).joined(separator: " and ")) alarm still raised")
            }
        }
        notify?(raised)
    }

    private func logWatermark(limit: UInt64, total: UInt64) {
        logger.info(
            "Memory high watermark set to \(limit >> 20) MiB (\(limit) bytes) of \(total >> 20) MiB (\(total) bytes) total"
        )
    }
}
