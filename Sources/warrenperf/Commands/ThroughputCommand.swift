import AMQPProtocol
import ArgumentParser
import NIOCore

struct ThroughputCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "throughput",
        abstract: "Producers publish to an exchange bound to queues; consumers drain the queues.")

    @OptionGroup var run: RunOptions

    @Option(help: "Producer connections.")
    var producers = 1

    @Option(help: "Consumer connections (spread over the queues).")
    var consumers = 1

    @Option(help: "Message body size in bytes.")
    var size = 16

    @Flag(help: "Durable queues and persistent messages (delivery-mode 2).")
    var persistent = false

    @Option(help: "Publisher confirms, with at most this many unconfirmed per producer (0: no confirms).")
    var confirm = 0

    @Flag(help: "Manual acks (multiple acks, each quarter prefetch window and each read burst); default no-ack.")
    var ack = false

    @Option(help: "basic.qos prefetch count per consumer (0: unlimited).")
    var prefetch = 0

    @Option(help: "Total publish rate limit in messages per second, shared by the producers (0: unlimited).")
    var rate: Double = 0

    @Option(help: "Exchange type: direct, fanout, topic or headers.")
    var exchangeType = "direct"

    @Option(help: "Exchange to publish to (default warrenperf-TYPE; \"\" for the default exchange).")
    var exchange: String?

    @Option(name: .customLong("routing-key"), help: "Routing key; repeat for several (used in turn).")
    var routingKeys: [String] = []

    @Option(
        name: .customLong("binding-key"),
        help: "Binding key of each queue; repeat for several (default: the routing keys).")
    var bindingKeys: [String] = []

    @Option(help: "Queues bound to the exchange; consumers are spread over them.")
    var queues = 1

    @Option(help: "Prefix of the queue names (default warrenperf-RUNID).")
    var queuePrefix: String?

    func validate() throws {
        guard ["direct", "fanout", "topic", "headers"].contains(exchangeType) else {
            throw ValidationError("--exchange-type must be direct, fanout, topic or headers")
        }
        if producers < 0 || consumers < 0 || producers + consumers == 0 {
            throw ValidationError("need at least one producer or consumer")
        }
        if producers > 1000 || consumers > 1000 { throw ValidationError("at most 1000 producers and 1000 consumers") }
        if size < 0 { throw ValidationError("--size must be 0 or more") }
        if confirm < 0 || prefetch < 0 || prefetch > Int(UInt16.max) || rate < 0 || queues < 1 {
            throw ValidationError(
                "--confirm, --prefetch (at most 65535), --rate must be 0 or more; --queues at least 1")
        }
    }

    func run() async throws {
        Interruption.shared.install()
        let uri = try self.run.brokerURI
        let group = self.run.makeEventLoopGroup()
        let meter = RateMeter()
        let exchangeName = exchange ?? "warrenperf-\(exchangeType)"
        let queueNames = (0..<queues).map { "\(queuePrefix ?? "warrenperf-\(runID)")-\($0)" }
        let keys = exchangeName.isEmpty ? queueNames : (routingKeys.isEmpty ? ["warrenperf"] : routingKeys)

        let admin: ClientConnection
        do {
            admin = try await ClientConnection.open(uri, group: group, name: "warrenperf-admin")
            try await declareTopology(admin, exchange: exchangeName, queues: queueNames, keys: keys)
        } catch {
            MeasurementWindow.report("warrenperf: cannot set up on \(uri): \(error)")
            throw ExitCode(2)
        }

        var summary = ThroughputSummary(command: self, broker: uri.description)
        var consumerConnections: [ClientConnection] = []
        var producerConnections: [ClientConnection] = []
        var publishers: [NIOLoopBound<Publisher>] = []
        var consumerObjects: [NIOLoopBound<Consumer>] = []
        do {
            consumerConnections = try await ConnectionPool.open(
                consumers, uri: uri, group: group, name: "warrenperf-consumer")
            for (i, connection) in consumerConnections.enumerated() {
                consumerObjects.append(
                    try await startConsumer(connection, index: i, queue: queueNames[i % queueNames.count], meter: meter)
                )
            }
            producerConnections = try await ConnectionPool.open(
                producers, uri: uri, group: group, name: "warrenperf-producer")
            for connection in producerConnections {
                publishers.append(try await makePublisher(connection, exchange: exchangeName, keys: keys, meter: meter))
            }
        } catch {
            meter.record(error: "setting up: \(error)")
        }

        if meter.firstError == nil {
            for publisher in publishers { publisher.start() }
            let confirming = confirm > 0
            let window = MeasurementWindow(duration: self.run.duration, meter: meter)
            let outcome = await window.run { delta, seconds in
                var line = "publish=\(rateText(delta.published, seconds)) consume=\(rateText(delta.consumed, seconds))"
                if confirming { line += " confirm=\(rateText(delta.confirmed, seconds))" }
                if delta.nacked > 0 { line += " nack=\(rateText(delta.nacked, seconds))" }
                return line
            }
            for publisher in publishers { publisher.stop() }
            for consumer in consumerObjects { consumer.stop() }
            summary.record(outcome)
        }
        summary.error = meter.firstError

        await ConnectionPool.closeAll(producerConnections + consumerConnections)
        for queue in queueNames { _ = try? await admin.call(.queueDelete(QueueDelete(queue: queue))) }
        await admin.close()

        SummaryOutput.print(summary, json: self.run.json)
        if summary.error != nil { throw ExitCode(1) }
    }

    private func declareTopology(
        _ admin: ClientConnection, exchange: String, queues: [String], keys: [String]
    ) async throws {
        if !exchange.isEmpty {
            try await admin.call(
                .exchangeDeclare(
                    ExchangeDeclare(exchange: exchange, type: exchangeType, passive: exchange.hasPrefix("amq."))))
        }
        for queue in queues {
            try await admin.call(.queueDeclare(QueueDeclare(queue: queue, durable: persistent)))
            guard !exchange.isEmpty else { continue }
            for key in bindingKeys.isEmpty ? keys : bindingKeys {
                let arguments: FieldTable =
                    exchangeType == "headers" ? ["x-match": .string("all"), PublishBatch.keyHeader: .string(key)] : [:]
                try await admin.call(
                    .queueBind(QueueBind(queue: queue, exchange: exchange, routingKey: key, arguments: arguments)))
                if exchangeType == "fanout" { break }
            }
        }
    }

    private func startConsumer(
        _ connection: ClientConnection, index: Int, queue: String, meter: RateMeter
    ) async throws -> NIOLoopBound<Consumer> {
        let (manualAck, prefetch) = (ack, self.prefetch)
        let consumer = try await connection.onLoop { handler in
            let consumer = Consumer(handler: handler, manualAck: manualAck, prefetch: prefetch, meter: meter)
            handler.setObserver(consumer, channel: 1)
            return NIOLoopBound(consumer, eventLoop: handler.eventLoop)
        }
        if prefetch > 0 { try await connection.call(.basicQos(BasicQos(prefetchCount: UInt16(self.prefetch)))) }
        try await connection.call(
            .basicConsume(BasicConsume(queue: queue, consumerTag: "warrenperf-\(index)", noAck: !ack)))
        return consumer
    }

    private func makePublisher(
        _ connection: ClientConnection, exchange: String, keys: [String], meter: RateMeter
    ) async throws -> NIOLoopBound<Publisher> {
        if confirm > 0 { try await connection.call(.confirmSelect(ConfirmSelect())) }
        let (size, persistent, window) = (self.size, self.persistent, self.confirm)
        let keyInHeaders = exchangeType == "headers"
        let perProducerRate = rate > 0 ? rate / Double(producers) : nil
        return try await connection.onLoop { handler in
            let batch = PublishBatch(
                exchange: exchange, routingKeys: keys, bodySize: size, persistent: persistent,
                keyInHeaders: keyInHeaders, frameMax: handler.frameMax)
            let publisher = Publisher(
                handler: handler, batch: batch, meter: meter, confirmWindow: window, rate: perProducerRate)
            handler.setObserver(publisher, channel: 1)
            return NIOLoopBound(publisher, eventLoop: handler.eventLoop)
        }
    }
}

extension NIOLoopBound where Value == Publisher {
    func start() {
        let bound = self
        eventLoop.execute { bound.value.start() }
    }
    func stop() {
        let bound = self
        eventLoop.execute { bound.value.stop() }
    }
}

extension NIOLoopBound where Value == Consumer {
    func stop() {
        let bound = self
        eventLoop.execute { bound.value.stopped = true }
    }
}
