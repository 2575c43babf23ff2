import AMQPProtocol

/// What `x-queue-type` asks for. A quorum queue on this single node is a durable queue whose
/// every message is persisted, that counts how often each message comes back, and that ends
/// messages returned past their delivery limit (see `QuorumCommand`).
public enum QueueType: String, Sendable {
    case classic
    case quorum
    /// An append-only log read from offsets (`Stream/StreamQueue.swift`).
    case stream

    /// The type named by the declare arguments, refused as RabbitMQ refuses it.
    static func of(_ arguments: FieldTable, queue: String, vhost: String) throws(BrokerError) -> QueueType {
        guard let value = arguments["x-queue-type"] else { return .classic }
        let invalid = "invalid arg 'x-queue-type' for queue '\(queue)' in vhost '\(vhost)'"
        guard let name = value.stringValue else {
            throw .preconditionFailed("\(invalid): {unacceptable_type,\(value.rabbitTypeName)}")
        }
        switch name {
        case "classic": return .classic
        case "stream": return .stream
        case "quorum": return .quorum
        default: throw .preconditionFailed("\(invalid): \"unsupported queue type '\(name)'\"")
        }
    }

    /// The type of a queue declared (or recovered) with these arguments, without checks.
    static func declared(by arguments: FieldTable) -> QueueType {
        switch arguments["x-queue-type"]?.stringValue {
        case "quorum": .quorum
        case "stream": .stream
        default: .classic
        }
    }

    /// Queue arguments RabbitMQ 3.10 knows but refuses for a quorum queue.
    static let argumentsRefusedByQuorum: Set<String> = [
        "x-max-priority", "x-queue-mode", "x-queue-master-locator", "x-queue-version", "x-max-age",
        "x-stream-max-segment-size-bytes", "x-initial-cluster-size",
    ]

    /// Checks a new quorum queue's declaration in RabbitMQ's order: a server-generated name,
    /// then the arguments (the first refused one, in the order sent), then auto-delete,
    /// exclusive and non-durable, each 406 with RabbitMQ's text.
    static func checkQuorumDeclaration(
        queue: String, vhost: String, serverNamed: Bool, durable: Bool, exclusive: Bool, autoDelete: Bool,
        arguments: FieldTable
    ) throws(BrokerError) {
        if serverNamed {
            throw .preconditionFailed("Cannot declare a server-named queue for type rabbit_quorum_queue")
        }
        for (key, value) in arguments.entries {
            if argumentsRefusedByQuorum.contains(key) {
                throw .preconditionFailed(
                    "invalid arg '\(key)' for queue '\(queue)' in vhost '\(vhost)' of queue type rabbit_quorum_queue")
            }
            if key == "x-quorum-initial-group-size", value.integerValue == nil {
                throw .preconditionFailed(
                    "invalid arg '\(key)' for queue '\(queue)' in vhost '\(vhost)': "
                        + "\"expected integer, got \(value.rabbitTypeName)\"")
            }
        }
        func invalidProperty(_ property: String) -> BrokerError {
            .preconditionFailed("invalid property '\(property)' for queue '\(queue)' in vhost '\(vhost)'")
        }
        if autoDelete { throw invalidProperty("auto-delete") }
        if exclusive { throw invalidProperty("exclusive-owner") }
        if !durable { throw invalidProperty("non-durable") }
    }
}
