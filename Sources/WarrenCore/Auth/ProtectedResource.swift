/// A queue or exchange as permission checks see it: its kind and name within a vhost.
public struct ProtectedResource: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case queue
        case exchange
    }

    public var kind: Kind
    /// The name permission patterns are matched against.
    public var name: String

    public static func queue(_ name: String) -> ProtectedResource { .init(kind: .queue, name: name) }

    /// RabbitMQ checks the default exchange (empty name) under the name `amq.default`.
    public static func exchange(_ name: String) -> ProtectedResource {
        .init(kind: .exchange, name: name.isEmpty ? "amq.default" : name)
    }

    /// `queue 'q'`, as in RabbitMQ's refusal texts.
    public var description: String { "\(kind.rawValue) '\(name)'" }
}
