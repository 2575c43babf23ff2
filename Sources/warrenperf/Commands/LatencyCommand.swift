import AMQPProtocol
import ArgumentParser
import NIOCore

struct LatencyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Request/reply round trips through a request queue and a reply queue per client.")

    @OptionGroup var run: RunOptions

    @Option(help: "Clients, each with one call in flight.")
    var clients = 1

    @Option(help: "Request and reply body size in bytes.")
    var size = 16

    @Flag(help: "Replies through direct reply-to (amq.rabbitmq.reply-to) instead of an exclusive reply queue.")
    var directReplyTo = false

    @Option(help: "Name of the request queue (default warrenperf-rpc-RUNID).")
    var queue: String?

    func validate() throws {
        if clients < 1 || clients > 1000 { throw ValidationError("--clients must be 1 to 1000") }
        if size < 0 { throw ValidationError("--size must be 0 or more") }
    }

    func run() async throws {
        Interruption.shared.install()
        let uri = try self.run.brokerURI
        let group = self.run.makeEventLoopGroup()
        let meter = RateMeter()
        let requestQueue = queue ?? "warrenperf-rpc-\(runID)"
        let bodySize = size

        let responder: ClientConnection
        do {
            responder = try await ClientConnection.open(uri, group: group, name: "warrenperf-responder")
            try await responder.call(.queueDeclare(QueueDeclare(queue: requestQueue)))
        } catch {
            MeasurementWindow.report("warrenperf: cannot set up on \(uri): \(error)")
            throw ExitCode(2)
        }
        var summary = LatencySummary(
            broker: uri.description, clients: clients, size: size, directReplyTo: directReplyTo)
        var clientConnections: [ClientConnection] = []
        var rpcClients: [NIOLoopBound<RPCClient>] = []
        var responderObject: NIOLoopBound<RPCResponder>?
        do {
            responderObject = try await responder.onLoop { handler in
                let responder = RPCResponder(handler: handler, bodySize: bodySize, meter: meter)
                handler.setObserver(responder, channel: 1)
                return NIOLoopBound(responder, eventLoop: handler.eventLoop)
            }
            try await responder.call(
                .basicConsume(BasicConsume(queue: requestQueue, consumerTag: "warrenperf-responder", noAck: true)))
            clientConnections = try await ConnectionPool.open(
                clients, uri: uri, group: group, name: "warrenperf-client")
            for connection in clientConnections {
                rpcClients.append(try await startClient(connection, requestQueue: requestQueue, meter: meter))
            }
        } catch {
            meter.record(error: "setting up: \(error)")
        }

        if meter.firstError == nil {
            for client in rpcClients { client.eventLoop.execute { client.value.start() } }
            let window = MeasurementWindow(duration: self.run.duration, meter: meter)
            let outcome = await window.run { delta, seconds in "calls=\(rateText(delta.operations, seconds))" }
            var histogram = LatencyHistogram()
            for client in rpcClients {
                if let measured = try? await client.eventLoop.submit({ client.value.stop() }).get() {
                    histogram.merge(measured)
                }
            }
            summary.record(outcome, histogram: histogram)
        }
        summary.error = meter.firstError
        if let responderObject { responderObject.eventLoop.execute { responderObject.value.stopped = true } }

        await ConnectionPool.closeAll(clientConnections)
        _ = try? await responder.call(.queueDelete(QueueDelete(queue: requestQueue)))
        await responder.close()

        SummaryOutput.print(summary, json: self.run.json)
        if summary.error != nil { throw ExitCode(1) }
    }

    private func startClient(
        _ connection: ClientConnection, requestQueue: String, meter: RateMeter
    ) async throws -> NIOLoopBound<RPCClient> {
        let replyTo: String
        if directReplyTo {
            replyTo = "amq.rabbitmq.reply-to"
        } else {
            let reply = try await connection.call(.queueDeclare(QueueDeclare(exclusive: true, autoDelete: true)))
            guard case .queueDeclareOk(let ok) = reply else {
                throw ClientError.protocolViolation("queue.declare answered by \(reply.name)")
            }
            replyTo = ok.queue
        }
        let bodySize = size
        let client = try await connection.onLoop { handler in
            let client = RPCClient(
                handler: handler, requestQueue: requestQueue, replyTo: replyTo, bodySize: bodySize, meter: meter)
            handler.setObserver(client, channel: 1)
            return NIOLoopBound(client, eventLoop: handler.eventLoop)
        }
        try await connection.call(
            .basicConsume(
                BasicConsume(queue: replyTo, consumerTag: "warrenperf-replies", noAck: true, exclusive: !directReplyTo))
        )
        return client
    }
}

/// What a latency run measured.
struct LatencySummary: RunSummary {
    let command = "latency"
    var broker: String
    var clients: Int
    var size: Int
    var directReplyTo: Bool
    var seconds: Double = 0
    var interrupted = false
    var error: String?
    var calls = 0
    var callsPerS: Double = 0
    var minUs: Double = 0
    var meanUs: Double = 0
    var p50Us: Double = 0
    var p90Us: Double = 0
    var p99Us: Double = 0
    var p999Us: Double = 0
    var maxUs: Double = 0

    init(broker: String, clients: Int, size: Int, directReplyTo: Bool) {
        self.broker = broker
        self.clients = clients
        self.size = size
        self.directReplyTo = directReplyTo
    }

    mutating func record(_ outcome: MeasurementWindow.Outcome, histogram: LatencyHistogram) {
        seconds = roundedSeconds(outcome.elapsed)
        interrupted = outcome.interrupted
        calls = Int(histogram.count)
        callsPerS = rate(calls, over: outcome.elapsed)
        func us(_ nanoseconds: UInt64) -> Double { (Double(nanoseconds) / 100).rounded() / 10 }
        guard histogram.count > 0 else { return }
        minUs = us(histogram.min)
        meanUs = (histogram.mean / 100).rounded() / 10
        p50Us = us(histogram.percentile(0.5))
        p90Us = us(histogram.percentile(0.9))
        p99Us = us(histogram.percentile(0.99))
        p999Us = us(histogram.percentile(0.999))
        maxUs = us(histogram.max)
    }

    var text: String {
        var lines = [
            "latency against \(broker): \(seconds) s\(interrupted ? " (interrupted)" : ""), \(clients) client(s), "
                + "\(size)-byte messages, replies via \(directReplyTo ? "direct reply-to" : "exclusive reply queues")",
            "  calls \(calls) (\(callsPerS)/s)",
            "  round trip (µs): min \(minUs)  mean \(meanUs)  p50 \(p50Us)  p90 \(p90Us)  p99 \(p99Us)  "
                + "p99.9 \(p999Us)  max \(maxUs)",
        ]
        if let error { lines.append("  error: \(error)") }
        return lines.joined(separator: "\n")
    }
}
