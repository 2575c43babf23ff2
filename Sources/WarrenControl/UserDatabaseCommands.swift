import WarrenCore

/// The user, vhost and permission commands of warrenctl, carried out on a `UserDatabase`, with
/// rabbitmqctl's error texts and exit statuses. The broker calls `run` under its own lock, then
/// persists the database and rebuilds its `AccessControl` when `changesDatabase` says so.
public enum UserDatabaseCommands {
    public static let names: Set<String> = [
        "add_user", "delete_user", "change_password", "clear_password", "authenticate_user", "set_user_tags",
        "list_users", "add_vhost", "delete_vhost", "list_vhosts", "set_permissions", "clear_permissions",
        "list_permissions", "list_user_permissions", "set_topic_permissions", "clear_topic_permissions",
        "list_topic_permissions",
    ]

    /// True for the commands that may change the database (and so need persisting).
    public static func changesDatabase(_ command: String) -> Bool {
        names.contains(command) && !command.hasPrefix("list_") && command != "authenticate_user"
    }

    /// The response, or nil when `request` is not one of these commands.
    public static func run(_ request: ControlRequest, on database: inout UserDatabase) -> ControlResponse? {
        guard names.contains(request.command) else { return nil }
        let args = request.args
        func arguments(_ count: Int) -> Bool { args.count == count }
        let usage = ControlResponse.failure("wrong number of arguments for \(request.command)", .usage)

        switch request.command {
        case "add_user":
            guard arguments(2) else { return usage }
            do {
                try database.addUser(args[0], password: args[1])
            } catch {
                return .failure(error.description, .software)
            }
            return .done

        case "delete_user":
            guard arguments(1) else { return usage }
            return userChange { () throws(UserDatabaseError) in try database.deleteUser(args[0]) }

        case "change_password":
            guard arguments(2) else { return usage }
            return userChange { () throws(UserDatabaseError) in try database.changePassword(args[0], to: args[1]) }

        case "clear_password":
            guard arguments(1) else { return usage }
            return userChange { () throws(UserDatabaseError) in try database.clearPassword(args[0]) }

        case "set_user_tags":
            guard !args.isEmpty else { return usage }
            return userChange { () throws(UserDatabaseError) in try database.setTags(args[0], Array(args.dropFirst())) }

        case "authenticate_user":
            guard arguments(2) else { return usage }
            guard database.authenticate(args[0], password: args[1]) != nil else {
                return .failure(
                    "Error: failed to authenticate user \"\(args[0])\"\nuser '\(args[0])' - invalid credentials",
                    .dataError)
            }
            return .text("Success")

        case "list_users":
            let records: [[String: JSONValue]] = database.userList.map {
                ["user": .string($0.name), "tags": ControlValue.strings($0.tags)]
            }
            return .table(ControlTable(columns: ListColumns.columns(for: request), records: records))

        case "add_vhost":
            guard arguments(1) else { return usage }
            let tags = (request.options["tags"] ?? "").split(separator: ",").map {
                String($0).trimmingCharacters(in: .whitespaces)
            }
            database.addVhost(
                args[0],
                metadata: VhostMetadata(
                    description: request.options["description"] ?? "", tags: tags.filter { !$0.isEmpty },
                    defaultQueueType: request.options["default_queue_type"]))
            return .done

        case "delete_vhost":
            guard arguments(1) else { return usage }
            do {
                try database.deleteVhost(args[0])
            } catch {
                return .failure(error.description, .dataError)
            }
            return .done

        case "list_vhosts":
            let records: [[String: JSONValue]] = database.vhostNames.map { name in
                let metadata = database.vhosts[name] ?? VhostMetadata()
                return [
                    "name": .string(name), "description": .string(metadata.description),
                    "tags": ControlValue.strings(metadata.tags),
                    "default_queue_type": .string(metadata.defaultQueueType ?? "undefined"),
                    "tracing": .bool(false), "cluster_state": .string("running"),
                ]
            }
            return .table(ControlTable(columns: ListColumns.columns(for: request), records: records))

        case "set_permissions":
            guard arguments(4) else { return usage }
            let permission = Permission(configure: args[1], write: args[2], read: args[3])
            do {
                try database.setPermission(permission, user: args[0], vhost: request.vhost)
            } catch {
                return permissionFailure(error, user: args[0], vhost: request.vhost)
            }
            return .done

        case "clear_permissions":
            guard arguments(1) else { return usage }
            do {
                try database.clearPermission(user: args[0], vhost: request.vhost)
            } catch {
                return permissionFailure(error, user: args[0], vhost: request.vhost)
            }
            return .done

        case "list_permissions":
            guard database.hasVhost(request.vhost) else {
                return .failure(UserDatabaseError.noSuchVhost(request.vhost).description, .dataError)
            }
            let records: [[String: JSONValue]] = database.permissions(inVhost: request.vhost).map {
                ["user": .string($0.user)].merging(patterns($0.permission)) { a, _ in a }
            }
            return .table(ControlTable(columns: ListColumns.columns(for: request), records: records))

        case "list_user_permissions":
            guard arguments(1) else { return usage }
            guard database.user(named: args[0]) != nil else {
                return .failure(UserDatabaseError.noSuchUser(args[0]).description, .noUser)
            }
            let records: [[String: JSONValue]] = database.permissions(ofUser: args[0]).map {
                ["vhost": .string($0.vhost)].merging(patterns($0.permission)) { a, _ in a }
            }
            return .table(ControlTable(columns: ListColumns.columns(for: request), records: records))

        case "set_topic_permissions":
            guard arguments(4) else { return usage }
            let topic = TopicPermission(
                user: args[0], vhost: request.vhost, exchange: args[1], write: args[2], read: args[3])
            do {
                try database.setTopicPermission(topic)
            } catch {
                return permissionFailure(error, user: args[0], vhost: request.vhost)
            }
            return .done

        case "clear_topic_permissions":
            guard args.count == 1 || args.count == 2 else { return usage }
            guard database.user(named: args[0]) != nil else {
                return permissionFailure(.noSuchUser(args[0]), user: args[0], vhost: request.vhost)
            }
            database.clearTopicPermissions(
                user: args[0], vhost: request.vhost, exchange: args.count == 2 ? args[1] : nil)
            return .done

        case "list_topic_permissions":
            let records: [[String: JSONValue]] = database.topicPermissions.filter { $0.vhost == request.vhost }
                .sorted { ($0.user, $0.exchange) < ($1.user, $1.exchange) }
                .map {
                    [
                        "user": .string($0.user), "exchange": .string($0.exchange), "write": .string($0.write),
                        "read": .string($0.read),
                    ]
                }
            return .table(ControlTable(columns: ListColumns.columns(for: request), records: records))

        default:
            return nil
        }
    }

    private static func patterns(_ permission: Permission) -> [String: JSONValue] {
        [
            "configure": .string(permission.configure), "write": .string(permission.write),
            "read": .string(permission.read),
        ]
    }

    /// delete_user, change_password, clear_password, set_user_tags: `User "x" does not exist`, 67.
    private static func userChange(_ change: () throws(UserDatabaseError) -> Void) -> ControlResponse {
        do {
            try change()
            return .done
        } catch {
            return .failure(error.description, .noUser)
        }
    }

    /// set_permissions and clear_permissions word their failures differently from other commands.
    private static func permissionFailure(
        _ error: UserDatabaseError, user: String, vhost: String
    )
        -> ControlResponse
    {
        switch error {
        case .noSuchUser(let name): .failure("User \(name) does not exist", .noUser)
        case .noSuchVhost(let name): .failure("Virtual host \(name) does not exist", .unavailable)
        case .invalidPattern:
            .failure(
                "Failed to set permissions for '\(user)' in virtual host '\(vhost)': \(error.description)", .unavailable
            )
        default: .failure(error.description, .software)
        }
    }
}
