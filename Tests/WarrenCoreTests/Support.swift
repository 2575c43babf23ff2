import AMQPProtocol
import Foundation
import Logging
import NIOCore
import Testing

@testable import WarrenCore

/// Collects what a session hands its sink. The vhost is driven synchronously on the test's
/// thread, so no locking is needed.
final class OutputLog: @unchecked Sendable {
    var items: [SessionOutput] = []
    var completedBatches = 0

    func take() -> [SessionOutput] {
        defer { items = [] }
        return items
    }
}

/// A client connection to a vhost, driven without a network: commands in, outputs out.
final class TestClient {
    let vhost: VirtualHost
    let session: Session
    let log = OutputLog()

    init(
        _ vhost: VirtualHost, id: UInt64 = 1, user: String = "guest",
        capabilities: ClientCapabilities = ClientCapabilities(consumerCancelNotify: true)
    ) {
        self.vhost = vhost
        self.session = vhost.openSession(id: id, user: user, capabilities: capabilities)
        let log = self.log
        session.sink = { output, batches in
            log.items.append(contentsOf: output)
            log.completedBatches += batches
        }
    }

    /// Processes one batch and returns everything the session sent back since the last call.
    @discardableResult
    func send(_ commands: [SessionCommand]) -> [SessionOutput] {
        session.process(commands)
        return log.take()
    }

    @discardableResult
    func send(_ command: SessionCommand) -> [SessionOutput] { send([command]) }

    /// One method on `channel`, in a batch of its own; returns the summaries of the output.
    @discardableResult
    func call(_ method: AMQPMethod, channel: UInt16 = 1) -> [String] {
        send(.method(channel: channel, method)).map(\.summary)
    }

    /// Several methods on one channel, in one batch.
    @discardableResult
    func call(_ methods: [AMQPMethod], channel: UInt16 = 1) -> [String] {
        send(methods.map { .method(channel: channel, $0) }).map(\.summary)
    }

    /// Opens `channel`, expecting channel.open-ok.
    func openChannel(_ channel: UInt16 = 1) {
        let out = call(.channelOpen(ChannelOpen()), channel: channel)
        #expect(out == ["\(channel):channel.open-ok"])
    }

    /// Declares a plain queue (opening channel 1 first if asked).
    func declareQueue(_ name: String, channel: UInt16 = 1, exclusive: Bool = false, autoDelete: Bool = false) {
        let out = call(
            .queueDeclare(QueueDeclare(queue: name, exclusive: exclusive, autoDelete: autoDelete)), channel: channel)
        #expect(out.first?.hasPrefix("\(channel):queue.declare-ok \(name)") == true, "\(out)")
    }

    func consume(
        _ queue: String, tag: String, channel: UInt16 = 1, noAck: Bool = false, exclusive: Bool = false
    ) -> [String] {
        call(
            .basicConsume(BasicConsume(queue: queue, consumerTag: tag, noAck: noAck, exclusive: exclusive)),
            channel: channel)
    }

    func publishCommand(
        _ body: String, exchange: String = "", routingKey: String, channel: UInt16 = 1, mandatory: Bool = false,
        properties: BasicProperties = BasicProperties()
    ) -> SessionCommand {
        .publish(
            channel: channel, mandatory: mandatory, immediate: false,
            message: Message(
                exchange: exchange, routingKey: routingKey, properties: RawProperties(properties),
                body: ByteBuffer(string: body)))
    }

    /// Publishes `bodies`, in one batch, to `routingKey` via `exchange`.
    @discardableResult
    func publish(
        _ bodies: String..., exchange: String = "", routingKey: String, channel: UInt16 = 1, mandatory: Bool = false,
        properties: BasicProperties = BasicProperties()
    ) -> [String] {
        send(
            bodies.map {
                publishCommand(
                    $0, exchange: exchange, routingKey: routingKey, channel: channel, mandatory: mandatory,
                    properties: properties)
            }
        ).map(\.summary)
    }

    func get(_ queue: String, channel: UInt16 = 1, noAck: Bool = false) -> [String] {
        call(.basicGet(BasicGet(queue: queue, noAck: noAck)), channel: channel)
    }

    func ack(_ tag: UInt64, multiple: Bool = false, channel: UInt16 = 1) -> [String] {
        call(.basicAck(BasicAck(deliveryTag: tag, multiple: multiple)), channel: channel)
    }

    func close() {
        send(.close)
    }
}

/// Bodies delivered by basic.deliver in `output`, in order.
func deliveredBodies(_ output: [String]) -> [String] {
    output.compactMap { line in
        guard line.contains(":deliver ") else { return nil }
        return line.split(separator: " ")[3].description
    }
}

extension SessionOutput {
    /// A one-line description that tests compare against.
    ///
    /// - `1:deliver ctag #3 body` (with ` redelivered` when set)
    /// - `1:get-ok #1 body left=2` (with ` redelivered`)
    /// - `1:return 312 body`
    /// - `1:channel.close 406 60/80`, `connection.close 530 60/20`
    /// - other methods by spec name, with their interesting fields
    var summary: String {
        switch self {
        case .method(let channel, let method):
            return "\(channel):\(method.summary)"
        case .deliver(let channel, let tag, let deliveryTag, let redelivered, let message):
            return "\(channel):deliver \(tag) #\(deliveryTag) \(message.bodyString)\(redelivered ? " redelivered" : "")"
        case .getOk(let channel, let deliveryTag, let redelivered, let count, let message):
            return
                "\(channel):get-ok #\(deliveryTag) \(message.bodyString) left=\(count)\(redelivered ? " redelivered" : "")"
        case .returned(let channel, let code, _, let message):
            return "\(channel):return \(code) \(message.bodyString)"
        case .closeConnection(let code, _, let classID, let methodID):
            return "connection.close \(code) \(classID)/\(methodID)"
        }
    }

    var message: Message? {
        switch self {
        case .deliver(_, _, _, _, let m), .getOk(_, _, _, _, let m), .returned(_, _, _, let m): return m
        default: return nil
        }
    }
}

extension AMQPMethod {
    var summary: String {
        switch self {
        case .channelClose(let m): return "channel.close \(m.replyCode) \(m.classID)/\(m.methodID)"
        case .basicAck(let m): return "basic.ack \(m.deliveryTag)\(m.multiple ? " multiple" : "")"
        case .basicNack(let m): return "basic.nack \(m.deliveryTag)\(m.multiple ? " multiple" : "")"
        case .basicCancel(let m): return "basic.cancel \(m.consumerTag)\(m.noWait ? " no-wait" : "")"
        case .basicCancelOk(let m): return "basic.cancel-ok \(m.consumerTag)"
        case .basicConsumeOk(let m): return "basic.consume-ok \(m.consumerTag)"
        case .queueDeclareOk(let m): return "queue.declare-ok \(m.queue) \(m.messageCount) \(m.consumerCount)"
        case .queueDeleteOk(let m): return "queue.delete-ok \(m.messageCount)"
        case .queuePurgeOk(let m): return "queue.purge-ok \(m.messageCount)"
        case .channelFlowOk(let m): return "channel.flow-ok \(m.active)"
        default: return name
        }
    }
}

extension Message {
    var bodyString: String { String(buffer: body) }
}

/// The names of the queues a message published to `exchange` with `routingKey` (and
/// `headers`) reaches, sorted.
func routedQueues(
    _ vhost: VirtualHost, exchange: String, routingKey: String = "", headers: FieldTable? = nil
) throws -> [String] {
    let message = Message(
        exchange: exchange, routingKey: routingKey, properties: RawProperties(BasicProperties(headers: headers)),
        body: ByteBuffer())
    var queues: [MessageQueue] = []
    vhost.route(message, via: try vhost.exchange(named: exchange), into: &queues)
    return queues.map(\.name).sorted()
}

extension VirtualHost {
    /// Declares a shared queue from session 0 (tests of routing need no client).
    @discardableResult
    func makeQueue(_ name: String) throws -> MessageQueue {
        try declareQueue(
            name: name, passive: false, durable: false, exclusive: false, autoDelete: false, arguments: [:],
            sessionID: 0)
    }

    @discardableResult
    func makeExchange(
        _ name: String, _ kind: ExchangeKind, autoDelete: Bool = false, isInternal: Bool = false
    ) throws -> Exchange {
        try declareExchange(
            name: name, type: kind.rawValue, passive: false, durable: false, autoDelete: autoDelete,
            isInternal: isInternal, arguments: [:])
    }

    func bindQueue(_ queue: String, to exchange: String, key: String = "", arguments: FieldTable = [:]) throws {
        try bind(queue: queue, exchange: exchange, routingKey: key, arguments: arguments, sessionID: 0)
    }
}

/// A fresh vhost whose logger only reports critical problems (channel errors are expected here).
func makeVHost() -> VirtualHost {
    let vhost = VirtualHost(name: "/")
    vhost.logger.logLevel = .critical
    return vhost
}

/// A data directory of a test's own (`remove()` it in a `defer`) and stores opened on it: each one
/// recovers what the earlier ones wrote, as a restart does.
final class TestStoreDirectory {
    let path: String
    static let logger: Logger = {
        var logger = Logger(label: "test-store")
        logger.logLevel = .critical
        return logger
    }()

    init(_ name: String) {
        path = NSTemporaryDirectory() + "warren-\(name)-test-" + UUID().uuidString
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    func store(syncer: @escaping MessageStore.Syncer = MessageStore.inlineSyncer) throws -> MessageStore {
        try MessageStore(directory: path, logger: Self.logger, syncer: syncer)
    }

    /// A vhost on a store in this directory (a second one recovers what the first stored).
    func vhost() throws -> VirtualHost {
        let vhost = makeVHost()
        try vhost.attach(store())
        return vhost
    }
}
