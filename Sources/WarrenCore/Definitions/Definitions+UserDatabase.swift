/// The users, vhosts and permissions sections of definitions, to and from the user database.
/// Queues, exchanges, bindings, policies and parameters belong to the broker's topology.
extension Definitions {
    public init(userDatabase database: UserDatabase) {
        self.init()
        users = database.userList.map {
            UserDefinition(
                name: $0.name, passwordHash: $0.passwordHash ?? "", hashingAlgorithm: $0.hashingAlgorithm.rawValue,
                tags: $0.tags)
        }
        vhosts = database.vhostNames.map {
            VhostDefinition(name: $0, limits: .array([]), metadata: database.vhosts[$0])
        }
        permissions = database.vhostNames.flatMap { vhost in
            database.permissions(inVhost: vhost).map {
                PermissionDefinition(user: $0.user, vhost: vhost, permission: $0.permission)
            }
        }
        topicPermissions = database.topicPermissions
    }
}

extension UserDatabase {
    /// Applies the users, vhosts, permissions and topic permissions of `definitions`, as RabbitMQ's
    /// import does: users are added or replaced, vhosts added when missing, permissions set.
    /// Stops at the first entry that cannot be applied; entries before it stay applied.
    public mutating func importDefinitions(_ definitions: Definitions) throws(UserDatabaseError) {
        for definition in definitions.users {
            putUser(try User(definition, exportedBy: definitions.rabbitVersion))
        }
        for vhost in definitions.vhosts {
            addVhost(vhost.name, metadata: vhost.metadata ?? VhostMetadata())
        }
        for permission in definitions.permissions {
            try setPermission(permission.permission, user: permission.user, vhost: permission.vhost)
        }
        for topicPermission in definitions.topicPermissions {
            try setTopicPermission(topicPermission)
        }
        try importRuntimeParameters(definitions)
    }

    /// Policies, operator policies (RabbitMQ exports them as parameters of the component
    /// `operator_policy`), other parameters and global parameters.
    private mutating func importRuntimeParameters(_ definitions: Definitions) throws(UserDatabaseError) {
        func set(_ policy: PolicyDefinition, operatorPolicy: Bool) throws(UserDatabaseError) {
            guard hasVhost(policy.vhost) else { throw .noSuchVhost(policy.vhost) }
            do {
                try runtimeParameters.setPolicy(policy, operatorPolicy: operatorPolicy)
            } catch {
                throw .invalidPolicy(name: policy.name, error)
            }
        }
        for policy in definitions.policies { try set(policy, operatorPolicy: false) }
        for parameter in definitions.parameters {
            guard hasVhost(parameter.vhost) else { throw .noSuchVhost(parameter.vhost) }
            if parameter.component == "operator_policy" {
                guard let policy = PolicyDefinition(operatorPolicyParameter: parameter) else {
                    throw .invalidPolicy(name: parameter.name, .validation("not an operator policy"))
                }
                try set(policy, operatorPolicy: true)
            } else {
                runtimeParameters.setParameter(parameter)
            }
        }
        for parameter in definitions.globalParameters where parameter.name != "internal_cluster_id" {
            runtimeParameters.setGlobalParameter(parameter)
        }
    }
}

extension User {
    /// A user from its definition: the hash as given, or a clear-text `password` hashed now.
    /// Exports without `hashing_algorithm` are MD5 when older than RabbitMQ 3.6, SHA-256 otherwise.
    public init(_ definition: UserDefinition, exportedBy rabbitVersion: String? = nil) throws(UserDatabaseError) {
        if let password = definition.password, definition.passwordHash.isEmpty {
            self.init(name: definition.name, password: password, tags: definition.tags)
            return
        }
        let algorithm: PasswordHashingAlgorithm
        if let name = definition.hashingAlgorithm {
            guard let known = PasswordHashingAlgorithm(rawValue: name) else { throw .unknownHashingAlgorithm(name) }
            algorithm = known
        } else {
            algorithm = Self.predatesAlgorithmField(rabbitVersion) ? .md5 : .sha256
        }
        self.init(
            name: definition.name, passwordHash: definition.passwordHash.isEmpty ? nil : definition.passwordHash,
            hashingAlgorithm: algorithm, tags: definition.tags)
    }

    private static func predatesAlgorithmField(_ version: String?) -> Bool {
        guard let version else { return true }
        let parts = version.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 2 else { return true }
        return parts[0] < 3 || (parts[0] == 3 && parts[1] < 6)
    }
}
