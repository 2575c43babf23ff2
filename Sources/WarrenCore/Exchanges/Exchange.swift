import AMQPProtocol
import OrderedCollections

/// The exchange types Warren implements.
public enum ExchangeKind: String, Sendable, CaseIterable {
    case direct, fanout, topic, headers
}

/// An exchange: holds bindings and routes messages to destinations. One subclass per type
/// (DirectExchange, FanoutExchange, TopicExchange, HeadersExchange) supplies the routing index;
/// this class keeps the binding list every type shares. Owned by its vhost's event loop.
public class Exchange: @unchecked Sendable {
    public let name: String
    public let kind: ExchangeKind
    public let durable: Bool
    public let autoDelete: Bool
    public let isInternal: Bool
    public let arguments: FieldTable
    public private(set) var bindings: OrderedSet<Binding> = []
    /// The policy that applies (list_exchanges policy).
    public internal(set) var policyName: String?
    /// Where messages this exchange cannot route go: the `alternate-exchange` argument, else
    /// the policy's `alternate-exchange`.
    public var alternateExchange: String?

    init(name: String, kind: ExchangeKind, durable: Bool, autoDelete: Bool, isInternal: Bool, arguments: FieldTable) {
        self.name = name
        self.kind = kind
        self.durable = durable
        self.autoDelete = autoDelete
        self.isInternal = isInternal
        self.arguments = arguments
        self.alternateExchange = arguments["alternate-exchange"]?.stringValue
    }

    public static func make(
        name: String, kind: ExchangeKind, durable: Bool, autoDelete: Bool, isInternal: Bool, arguments: FieldTable
    ) -> Exchange {
        switch kind {
        case .direct:
            return DirectExchange(
                name: name, kind: kind, durable: durable, autoDelete: autoDelete, isInternal: isInternal,
                arguments: arguments)
        case .fanout:
            return FanoutExchange(
                name: name, kind: kind, durable: durable, autoDelete: autoDelete, isInternal: isInternal,
                arguments: arguments)
        case .topic:
            return TopicExchange(
                name: name, kind: kind, durable: durable, autoDelete: autoDelete, isInternal: isInternal,
                arguments: arguments)
        case .headers:
            return HeadersExchange(
                name: name, kind: kind, durable: durable, autoDelete: autoDelete, isInternal: isInternal,
                arguments: arguments)
        }
    }

    /// Adds a binding; false when the same binding already exists.
    @discardableResult
    public func bind(_ binding: Binding) -> Bool {
        guard bindings.append(binding).inserted else { return false }
        didBind(binding)
        return true
    }

    /// Removes a binding; false when there was no such binding.
    @discardableResult
    public func unbind(_ binding: Binding) -> Bool {
        guard bindings.remove(binding) != nil else { return false }
        didUnbind(binding)
        return true
    }

    /// Removes every binding to `destination` (when a queue or exchange is deleted).
    public func unbindAll(to destination: Destination) -> Int {
        let doomed = bindings.filter { $0.destination == destination }
        for b in doomed { unbind(b) }
        return doomed.count
    }

    func removeAllBindings() {
        for b in Array(bindings) { unbind(b) }
    }

    /// Appends the destinations a message goes to. Duplicates are allowed here; the vhost
    /// removes them.
    func route(routingKey: String, message: Message, into destinations: inout [Destination]) {
        fatalError("subclass must implement route")
    }

    func didBind(_ binding: Binding) {}
    func didUnbind(_ binding: Binding) {}
}
