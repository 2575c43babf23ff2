/// The internal user database: users, vhosts, and each user's permissions per vhost. A value:
/// the broker keeps one behind its own lock, persists it as JSON, and builds an `AccessControl`
/// from it after each change.
public struct UserDatabase: Sendable, Hashable, Codable {
    public private(set) var users: [String: User] = [:]
    public private(set) var vhosts: [String: VhostMetadata] = [:]
    /// Keyed by user, then vhost.
    public private(set) var permissions: [String: [String: Permission]] = [:]
    public private(set) var topicPermissions: [TopicPermission] = []
    /// Policies, operator policies and runtime parameters (kept with the vhosts they belong to).
    public var runtimeParameters = RuntimeParameters()

    public init() {}

    enum CodingKeys: String, CodingKey {
        case users, vhosts, permissions, topicPermissions, runtimeParameters
    }

    /// Databases saved before runtime parameters existed load with none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        users = try c.decode([String: User].self, forKey: .users)
        vhosts = try c.decode([String: VhostMetadata].self, forKey: .vhosts)
        permissions = try c.decode([String: [String: Permission]].self, forKey: .permissions)
        topicPermissions = try c.decodeIfPresent([TopicPermission].self, forKey: .topicPermissions) ?? []
        runtimeParameters =
            try c.decodeIfPresent(RuntimeParameters.self, forKey: .runtimeParameters) ?? RuntimeParameters()
    }

    /// The database a broker starts with on an empty data directory: one vhost and one user with
    /// permissions in it (RabbitMQ's guest/guest, `/`, `.*` for all three, tagged administrator).
    public static func seeded(
        user: String = "guest", password: String = "guest", vhost: String = "/",
        permission: Permission = .all, tags: [String] = ["administrator"]
    ) -> UserDatabase {
        var database = UserDatabase()
        database.addVhost(vhost, metadata: VhostMetadata(description: "Default virtual host"))
        database.putUser(User(name: user, password: password, tags: tags))
        database.permissions[user, default: [:]][vhost] = permission
        return database
    }

    // MARK: Users

    /// Users sorted by name.
    public var userList: [User] { users.values.sorted { $0.name < $1.name } }

    public func user(named name: String) -> User? { users[name] }

    public mutating func addUser(_ name: String, password: String, tags: [String] = []) throws(UserDatabaseError) {
        guard users[name] == nil else { throw .userAlreadyExists(name) }
        users[name] = User(name: name, password: password, tags: tags)
    }

    /// Adds or replaces a user as it is, hash included (definitions import).
    public mutating func putUser(_ user: User) {
        users[user.name] = user
    }

    /// Deletes the user with its permissions and topic permissions.
    public mutating func deleteUser(_ name: String) throws(UserDatabaseError) {
        guard users.removeValue(forKey: name) != nil else { throw .noSuchUser(name) }
        permissions[name] = nil
        topicPermissions.removeAll { $0.user == name }
    }

    public mutating func changePassword(_ name: String, to password: String) throws(UserDatabaseError) {
        guard var user = users[name] else { throw .noSuchUser(name) }
        let hash = PasswordHash(password: password)
        user.passwordHash = hash.encoded
        user.hashingAlgorithm = hash.algorithm
        users[name] = user
    }

    /// Removes the password: the user can no longer log in with one.
    public mutating func clearPassword(_ name: String) throws(UserDatabaseError) {
        guard users[name] != nil else { throw .noSuchUser(name) }
        users[name]?.passwordHash = nil
    }

    public mutating func setTags(_ name: String, _ tags: [String]) throws(UserDatabaseError) {
        guard users[name] != nil else { throw .noSuchUser(name) }
        users[name]?.tags = tags
    }

    /// The user, when the name exists and the password is right; nil otherwise (RabbitMQ does not
    /// tell the two apart: "user 'x' - invalid credentials").
    public func authenticate(_ name: String, password: String) -> User? {
        guard let user = users[name], user.verifies(password: password) else { return nil }
        return user
    }

    // MARK: Vhosts

    /// Vhost names sorted, so `/` comes first.
    public var vhostNames: [String] { vhosts.keys.sorted() }

    public func hasVhost(_ name: String) -> Bool { vhosts[name] != nil }

    /// Adds the vhost; adding one that exists changes nothing, as in RabbitMQ. True when added.
    @discardableResult
    public mutating func addVhost(_ name: String, metadata: VhostMetadata = VhostMetadata()) -> Bool {
        guard vhosts[name] == nil else { return false }
        vhosts[name] = metadata
        return true
    }

    /// Deletes the vhost and every permission in it.
    public mutating func deleteVhost(_ name: String) throws(UserDatabaseError) {
        guard vhosts.removeValue(forKey: name) != nil else { throw .noSuchVhost(name) }
        for user in permissions.keys { permissions[user]?[name] = nil }
        permissions = permissions.filter { !$0.value.isEmpty }
        topicPermissions.removeAll { $0.vhost == name }
        runtimeParameters.removeVhost(name)
    }

    // MARK: Permissions

    public func permission(user: String, vhost: String) -> Permission? { permissions[user]?[vhost] }

    /// Checks the patterns compile, then that the vhost and the user exist.
    public mutating func setPermission(_ permission: Permission, user: String, vhost: String) throws(UserDatabaseError)
    {
        for access in AccessKind.allCases { _ = try ResourcePattern(permission.pattern(for: access)) }
        guard vhosts[vhost] != nil else { throw .noSuchVhost(vhost) }
        guard users[user] != nil else { throw .noSuchUser(user) }
        permissions[user, default: [:]][vhost] = permission
    }

    /// Clearing permissions that were never set succeeds, as in RabbitMQ.
    public mutating func clearPermission(user: String, vhost: String) throws(UserDatabaseError) {
        guard users[user] != nil else { throw .noSuchUser(user) }
        guard vhosts[vhost] != nil else { throw .noSuchVhost(vhost) }
        permissions[user]?[vhost] = nil
        if permissions[user]?.isEmpty == true { permissions[user] = nil }
    }

    /// The permissions in one vhost, by user name.
    public func permissions(inVhost vhost: String) -> [(user: String, permission: Permission)] {
        permissions.compactMap { user, byVhost in byVhost[vhost].map { (user: user, permission: $0) } }
            .sorted { $0.user < $1.user }
    }

    /// One user's permissions, by vhost name.
    public func permissions(ofUser user: String) -> [(vhost: String, permission: Permission)] {
        (permissions[user] ?? [:]).map { (vhost: $0.key, permission: $0.value) }.sorted { $0.vhost < $1.vhost }
    }

    // MARK: Topic permissions

    public mutating func setTopicPermission(_ topicPermission: TopicPermission) throws(UserDatabaseError) {
        _ = try ResourcePattern(topicPermission.write)
        _ = try ResourcePattern(topicPermission.read)
        guard vhosts[topicPermission.vhost] != nil else { throw .noSuchVhost(topicPermission.vhost) }
        guard users[topicPermission.user] != nil else { throw .noSuchUser(topicPermission.user) }
        topicPermissions.removeAll {
            $0.user == topicPermission.user && $0.vhost == topicPermission.vhost
                && $0.exchange == topicPermission.exchange
        }
        topicPermissions.append(topicPermission)
    }

    /// Clears the user's topic permissions in the vhost: for one exchange, or all of them.
    public mutating func clearTopicPermissions(user: String, vhost: String, exchange: String? = nil) {
        topicPermissions.removeAll {
            $0.user == user && $0.vhost == vhost && (exchange == nil || $0.exchange == exchange)
        }
    }
}
