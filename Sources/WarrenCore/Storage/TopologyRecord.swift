import AMQPProtocol
import Foundation
import NIOCore

/// One change to a vhost's durable topology, as a line of JSON in its metadata log.
/// Arguments are kept as their AMQP encoding (base64) so they come back bit-exact.
struct TopologyRecord: Codable, Equatable {
    enum Operation: String, Codable {
        case declareExchange = "declare_exchange"
        case deleteExchange = "delete_exchange"
        case declareQueue = "declare_queue"
        case deleteQueue = "delete_queue"
        case bind
        case unbind
    }

    var op: Operation
    var name: String?
    var type: String?
    var autoDelete: Bool?
    var `internal`: Bool?
    var source: String?
    var destination: String?
    var destinationType: String?
    var routingKey: String?
    var arguments: String?

    enum CodingKeys: String, CodingKey {
        case op, name, type, source, destination, arguments
        case autoDelete = "auto_delete"
        case `internal`
        case destinationType = "destination_type"
        case routingKey = "routing_key"
    }

    static func encodeArguments(_ table: FieldTable) -> String? {
        guard !table.isEmpty else { return nil }
        var buffer = ByteBuffer()
        buffer.writeFieldTable(table)
        return Data(buffer.readableBytesView).base64EncodedString()
    }

    func decodedArguments() -> FieldTable {
        guard let arguments, let data = Data(base64Encoded: arguments) else { return [:] }
        var buffer = ByteBuffer(bytes: data)
        return (try? buffer.readFieldTable()) ?? [:]
    }

    static func exchange(_ e: Exchange) -> TopologyRecord {
        TopologyRecord(
            op: .declareExchange, name: e.name, type: e.kind.rawValue, autoDelete: e.autoDelete,
            internal: e.isInternal, arguments: encodeArguments(e.arguments))
    }

    static func queue(_ q: MessageQueue) -> TopologyRecord {
        TopologyRecord(
            op: .declareQueue, name: q.name, autoDelete: q.autoDelete, arguments: encodeArguments(q.arguments))
    }

    static func binding(_ op: Operation, source: Exchange, _ b: Binding) -> TopologyRecord {
        TopologyRecord(
            op: op, source: source.name, destination: b.destination.name, destinationType: b.destination.kindName,
            routingKey: b.routingKey, arguments: encodeArguments(b.arguments))
    }
}
