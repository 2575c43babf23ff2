import ArgumentParser
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

struct ConnectionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections",
        abstract: "Open many connections (one channel each), hold them for --duration, then close them.")

    @OptionGroup var run: RunOptions

    @Option(help: "Connections to open.")
    var connections = 100

    @Option(help: "Handshakes in progress at once.")
    var concurrency = 50

    func validate() throws {
        if connections < 1 { throw ValidationError("--connections must be at least 1") }
        if concurrency < 1 { throw ValidationError("--concurrency must be at least 1") }
    }

    func run() async throws {
        Interruption.shared.install()
        let uri = try self.run.brokerURI
        Self.raiseFileLimit(to: UInt64(connections) + 64)
        let group = self.run.makeEventLoopGroup()
        let meter = RateMeter()
        let firstFailure = NIOLockedValueBox(String?.none)
        let (total, parallel) = (connections, concurrency)

        // Opening: a task opens while this one reports each second and watches for Ctrl-C.
        let start = ContinuousClock.now
        let opening = Task { () -> [ClientConnection] in
            await withTaskGroup(of: ClientConnection?.self) { tasks in
                var opened: [ClientConnection] = []
                var next = 0
                func addOne() {
                    let i = next
                    next += 1
                    tasks.addTask {
                        do {
                            let connection = try await ClientConnection.open(
                                uri, group: group, name: "warrenperf-conn-\(i)")
                            meter.add(operations: 1)
                            return connection
                        } catch {
                            meter.add(failures: 1)
                            firstFailure.withLockedValue { if $0 == nil { $0 = "\(error)" } }
                            return nil
                        }
                    }
                }
                while next < min(parallel, total) { addOne() }
                for await connection in tasks {
                    if let connection { opened.append(connection) }
                    if next < total && !Task.isCancelled && !Interruption.shared.requested { addOne() }
                }
                return opened
            }
        }
        var second = 1
        var previous = meter.totals
        var openingDone = false
        while !openingDone {
            try? await Task.sleep(for: .milliseconds(20))
            let totals = meter.totals
            openingDone = totals.operations + totals.failures >= total || Interruption.shared.requested
            if (ContinuousClock.now - start).seconds >= Double(second) {
                let delta = totals - previous
                MeasurementWindow.report(
                    "t=\(second)s open=\(rateText(delta.operations, 1)) opened=\(totals.operations) failed=\(totals.failures)"
                )
                previous = totals
                second += 1
            }
        }
        let opened = await opening.value
        let openSeconds = (ContinuousClock.now - start).seconds

        var summary = ConnectionsSummary(broker: uri.description, requested: total)
        summary.opened = opened.count
        summary.failed = meter.totals.failures
        summary.openSeconds = roundedSeconds(openSeconds)
        summary.opensPerS = rate(opened.count, over: openSeconds)
        summary.firstError = firstFailure.withLockedValue { $0 }

        if !Interruption.shared.requested && !opened.isEmpty {
            let window = MeasurementWindow(duration: self.run.duration, meter: meter)
            let outcome = await window.run { _, _ in "held=\(opened.filter { $0.channel.isActive }.count)" }
            summary.heldSeconds = roundedSeconds(outcome.elapsed)
        }
        summary.interrupted = Interruption.shared.requested
        summary.aliveAtEnd = opened.filter { $0.channel.isActive }.count
        let closeStart = ContinuousClock.now
        await ConnectionPool.closeAll(opened)
        summary.closeSeconds = roundedSeconds((ContinuousClock.now - closeStart).seconds)

        SummaryOutput.print(summary, json: self.run.json)
        if summary.opened == 0 { throw ExitCode(1) }
    }

    /// Each connection is a file descriptor: lift the soft limit towards the hard one.
    private static func raiseFileLimit(to wanted: UInt64) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, UInt64(limit.rlim_cur) < wanted else { return }
        limit.rlim_cur = rlim_t(min(wanted, UInt64(limit.rlim_max)))
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// What a connections run measured.
struct ConnectionsSummary: RunSummary {
    let command = "connections"
    var broker: String
    var requested: Int
    var opened = 0
    var failed = 0
    var openSeconds: Double = 0
    var opensPerS: Double = 0
    var heldSeconds: Double = 0
    var aliveAtEnd = 0
    var closeSeconds: Double = 0
    var interrupted = false
    var firstError: String?

    init(broker: String, requested: Int) {
        self.broker = broker
        self.requested = requested
    }

    var text: String {
        var lines = [
            "connections against \(broker)\(interrupted ? " (interrupted)" : ""):",
            "  opened \(opened) of \(requested) in \(openSeconds) s (\(opensPerS)/s), \(failed) failed",
            "  held \(heldSeconds) s; \(aliveAtEnd) still open at the end; closed in \(closeSeconds) s",
        ]
        if let firstError { lines.append("  first failure: \(firstError)") }
        return lines.joined(separator: "\n")
    }
}
