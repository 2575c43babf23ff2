/// The three kinds of access RabbitMQ checks on a resource.
public enum AccessKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// Creating, deleting or changing a queue or exchange.
    case configure
    /// Putting messages into a resource: publishing to an exchange, binding a queue as a destination.
    case write
    /// Taking messages out: consuming, getting, purging, binding an exchange as a source.
    case read
}
