import ArgumentParser
import NIOCore

struct QueueChurnCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue-churn", abstract: "Declare and delete queues as fast as the broker answers.")

    @OptionGroup var run: RunOptions

    @Option(help: "Clients, each a connection declaring and deleting one queue at a time.")
    var clients = 1

    @Flag(help: "Declare durable queues.")
    var durable = false

    func validate() throws {
        if clients < 1 || clients > 1000 { throw ValidationError("--clients must be 1 to 1000") }
    }

    func run() async throws {
        Interruption.shared.install()
        let uri = try self.run.brokerURI
        let group = self.run.makeEventLoopGroup()
        let meter = RateMeter()
        let connections: [ClientConnection]
        do {
            connections = try await ConnectionPool.open(clients, uri: uri, group: group, name: "warrenperf-churn")
        } catch {
            MeasurementWindow.report("warrenperf: cannot connect to \(uri): \(error)")
            throw ExitCode(2)
        }
        let durable = self.durable
        var churners: [NIOLoopBound<QueueChurner>] = []
        for (i, connection) in connections.enumerated() {
            let churner = try await connection.onLoop { handler in
                let churner = QueueChurner(
                    handler: handler, namePrefix: "warrenperf-churn-\(runID)-\(i)", durable: durable, meter: meter)
                churner.start()
                return NIOLoopBound(churner, eventLoop: handler.eventLoop)
            }
            churners.append(churner)
        }
        let window = MeasurementWindow(duration: self.run.duration, meter: meter)
        let outcome = await window.run { delta, seconds in
            "declare=\(rateText(delta.operations, seconds)) delete=\(rateText(delta.secondaryOperations, seconds))"
        }
        for churner in churners {
            // Let each finish the queue it is on, so that none is left behind.
            try? await churner.eventLoop.flatSubmit {
                churner.value.stop()
                return churner.value.done
            }.get()
        }
        await ConnectionPool.closeAll(connections)

        var summary = QueueChurnSummary(broker: uri.description, clients: clients, durable: durable)
        summary.record(outcome)
        summary.error = meter.firstError
        SummaryOutput.print(summary, json: self.run.json)
        if summary.error != nil { throw ExitCode(1) }
    }
}

/// What a queue-churn run measured.
struct QueueChurnSummary: RunSummary {
    let command = "queue-churn"
    var broker: String
    var clients: Int
    var durable: Bool
    var seconds: Double = 0
    var interrupted = false
    var error: String?
    var declared = 0
    var deleted = 0
    var declaresPerS: Double = 0
    var deletesPerS: Double = 0

    init(broker: String, clients: Int, durable: Bool) {
        self.broker = broker
        self.clients = clients
        self.durable = durable
    }

    mutating func record(_ outcome: MeasurementWindow.Outcome) {
        seconds = roundedSeconds(outcome.elapsed)
        interrupted = outcome.interrupted
        declared = outcome.totals.operations
        deleted = outcome.totals.secondaryOperations
        declaresPerS = rate(declared, over: outcome.elapsed)
        deletesPerS = rate(deleted, over: outcome.elapsed)
    }

    var text: String {
        var lines = [
            "queue churn against \(broker): \(seconds) s\(interrupted ? " (interrupted)" : ""), \(clients) client(s), "
                + "\(durable ? "durable" : "transient") queues",
            "  declared \(declared) (\(declaresPerS)/s)",
            "  deleted  \(deleted) (\(deletesPerS)/s)",
        ]
        if let error { lines.append("  error: \(error)") }
        return lines.joined(separator: "\n")
    }
}
