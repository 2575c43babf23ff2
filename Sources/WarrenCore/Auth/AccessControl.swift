import Foundation

/// Answers "may this user do this here?" from a snapshot of the user database, with every
/// pattern compiled once. Immutable and cheap to share: build a new one after each change to the
/// database and hand it to connections.
public struct AccessControl: Sendable {
    private struct CompiledPermission: Sendable {
        var configure: ResourcePattern
        var write: ResourcePattern
        var read: ResourcePattern

        func pattern(for access: AccessKind) -> ResourcePattern {
            switch access {
            case .configure: configure
            case .write: write
            case .read: read
            }
        }
    }

    private struct TopicKey: Hashable {
        var user: String
        var vhost: String
        var exchange: String
    }

    private struct CompiledTopicPermission: Sendable {
        var write: ResourcePattern
        var read: ResourcePattern
    }

    private let permissions: [String: [String: CompiledPermission]]
    private let topicPermissions: [TopicKey: CompiledTopicPermission]

    public init(_ database: UserDatabase) {
        var permissions: [String: [String: CompiledPermission]] = [:]
        for (user, byVhost) in database.permissions {
            for (vhost, permission) in byVhost {
                permissions[user, default: [:]][vhost] = CompiledPermission(
                    configure: Self.compile(permission.configure), write: Self.compile(permission.write),
                    read: Self.compile(permission.read))
            }
        }
        self.permissions = permissions
        var topics: [TopicKey: CompiledTopicPermission] = [:]
        for topic in database.topicPermissions {
            // The user and vhost are known here, so the variables are expanded once.
            func expand(_ source: String) -> ResourcePattern {
                Self.compile(
                    source.replacingOccurrences(of: "{username}", with: topic.user)
                        .replacingOccurrences(of: "{vhost}", with: topic.vhost))
            }
            topics[TopicKey(user: topic.user, vhost: topic.vhost, exchange: topic.exchange)] =
                CompiledTopicPermission(write: expand(topic.write), read: expand(topic.read))
        }
        self.topicPermissions = topics
    }

    /// A pattern that does not compile (only possible in a hand-edited file) grants nothing.
    private static func compile(_ source: String) -> ResourcePattern {
        (try? ResourcePattern(source)) ?? (try! ResourcePattern(""))
    }

    /// A user may open a connection to a vhost when it has any permissions there, even empty ones.
    public func canAccess(user: String, vhost: String) -> Bool {
        permissions[user]?[vhost] != nil
    }

    public func can(_ access: AccessKind, user: String, vhost: String, resource name: String) -> Bool {
        guard let permission = permissions[user]?[vhost] else { return false }
        return permission.pattern(for: access).matches(name)
    }

    public func canConfigure(user: String, vhost: String, resource name: String) -> Bool {
        can(.configure, user: user, vhost: vhost, resource: name)
    }

    public func canWrite(user: String, vhost: String, resource name: String) -> Bool {
        can(.write, user: user, vhost: vhost, resource: name)
    }

    public func canRead(user: String, vhost: String, resource name: String) -> Bool {
        can(.read, user: user, vhost: vhost, resource: name)
    }

    /// Connection-level refusal for connection.open: `NOT_ALLOWED - access to vhost '/' refused
    /// for user 'bob'`.
    public func checkVhostAccess(user: String, vhost: String) throws(BrokerError) {
        guard canAccess(user: user, vhost: vhost) else {
            throw .notAllowed("access to vhost '\(vhost)' refused for user '\(user)'")
        }
    }

    /// Channel-level refusal: `ACCESS_REFUSED - access to queue 'q' in vhost '/' refused for user 'bob'`.
    public func check(_ requirement: AccessRequirement, user: String, vhost: String) throws(BrokerError) {
        guard can(requirement.access, user: user, vhost: vhost, resource: requirement.resource.name) else {
            throw .accessRefused("access to \(requirement.resource) in vhost '\(vhost)' refused for user '\(user)'")
        }
    }

    /// Checks everything `operation` needs, in RabbitMQ's order; throws the first refusal.
    public func authorize(_ operation: ResourceOperation, user: String, vhost: String) throws(BrokerError) {
        for requirement in operation.requirements {
            try check(requirement, user: user, vhost: vhost)
        }
    }

    /// Topic permissions: for publishing to a topic exchange (`.write`, the routing key) and for
    /// binding to or unbinding from one (`.read`, the binding key). Without a topic permission for
    /// that exchange the user is not limited. Throws `ACCESS_REFUSED - access to topic 'k' in
    /// exchange 'amq.topic' in vhost '/' refused for user 'bob'`.
    public func checkTopic(
        _ access: AccessKind, routingKey: String, exchange: String, user: String, vhost: String
    ) throws(BrokerError) {
        guard access != .configure,
            let topic = topicPermissions[TopicKey(user: user, vhost: vhost, exchange: exchange)]
        else { return }
        guard (access == .write ? topic.write : topic.read).matches(routingKey) else {
            throw .accessRefused(
                "access to topic '\(routingKey)' in exchange '\(exchange)' in vhost '\(vhost)' refused for user '\(user)'"
            )
        }
    }
}
