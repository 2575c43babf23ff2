import AMQPProtocol

/// Where a binding leads: a queue, or another exchange (RabbitMQ's exchange-to-exchange bindings).
public enum Destination: Hashable, @unchecked Sendable {
    case queue(MessageQueue)
    case exchange(Exchange)

    public var name: String {
        switch self {
        case .queue(let q): return q.name
        case .exchange(let e): return e.name
        }
    }

    public var kindName: String {
        switch self {
        case .queue: return "queue"
        case .exchange: return "exchange"
        }
    }

    public static func == (a: Destination, b: Destination) -> Bool {
        switch (a, b) {
        case (.queue(let x), .queue(let y)): return x === y
        case (.exchange(let x), .exchange(let y)): return x === y
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .queue(let q): hasher.combine(ObjectIdentifier(q))
        case .exchange(let e): hasher.combine(ObjectIdentifier(e))
        }
    }
}

/// A binding from an exchange to a destination. Two bindings differing only in their arguments
/// are distinct, as in RabbitMQ.
public struct Binding: Hashable, @unchecked Sendable {
    public var destination: Destination
    public var routingKey: String
    public var arguments: FieldTable

    /// Arguments are kept sorted by key: RabbitMQ compares bindings regardless of the order
    /// their arguments were given in.
    public init(destination: Destination, routingKey: String, arguments: FieldTable = [:]) {
        self.destination = destination
        self.routingKey = routingKey
        self.arguments = arguments.count > 1 ? FieldTable(arguments.entries.sorted { $0.key < $1.key }) : arguments
    }
}
