/// A user's permissions in one vhost: `{"user", "vhost", "configure", "write", "read"}`.
public struct PermissionDefinition: Sendable, Hashable, Codable {
    public var user: String
    public var vhost: String
    public var configure: String
    public var write: String
    public var read: String

    public init(user: String, vhost: String, permission: Permission) {
        self.user = user
        self.vhost = vhost
        self.configure = permission.configure
        self.write = permission.write
        self.read = permission.read
    }

    public var permission: Permission { Permission(configure: configure, write: write, read: read) }
}
