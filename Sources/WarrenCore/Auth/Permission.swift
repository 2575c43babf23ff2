/// A user's permissions in one vhost: three regular expressions that resource names must match
/// to be configured (declared, deleted), written (published to, bound to) or read (consumed,
/// bound from). RabbitMQ semantics: an unanchored search, and "" means `^$`.
public struct Permission: Sendable, Hashable, Codable {
    public var configure: String
    public var write: String
    public var read: String

    public init(configure: String, write: String, read: String) {
        self.configure = configure
        self.write = write
        self.read = read
    }

    /// Full access: `.*` for all three, what the default user gets.
    public static let all = Permission(configure: ".*", write: ".*", read: ".*")

    public func pattern(for access: AccessKind) -> String {
        switch access {
        case .configure: configure
        case .write: write
        case .read: read
        }
    }
}
