/// Extra limits on routing keys for one topic exchange: publishing needs the routing key to
/// match `write`, binding a queue needs the binding key to match `read`. Users without a topic
/// permission for an exchange are not limited on it. `{username}` and `{vhost}` in a pattern
/// stand for the user's name and the vhost.
public struct TopicPermission: Sendable, Hashable, Codable {
    public var user: String
    public var vhost: String
    public var exchange: String
    public var write: String
    public var read: String

    public init(user: String, vhost: String, exchange: String, write: String, read: String) {
        self.user = user
        self.vhost = vhost
        self.exchange = exchange
        self.write = write
        self.read = read
    }
}
