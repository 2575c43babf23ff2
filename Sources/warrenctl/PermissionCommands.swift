import ArgumentParser
import WarrenControl

struct SetPermissions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set_permissions", abstract: "Sets user permissions for a vhost")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @Argument(help: "Self-explanatory") var username: String
    @Argument(help: "Configuration permission pattern") var conf: String
    @Argument(help: "Write permission pattern") var write: String
    @Argument(help: "Read permission pattern") var read: String

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(
                command: "set_permissions", args: [username, conf, write, read], options: ["vhost": scope.vhost]),
            inform: "Setting permissions for user \"\(username)\" in vhost \"\(scope.vhost)\" ...")
    }
}

struct ClearPermissions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear_permissions", abstract: "Revokes user permissions for a vhost")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @Argument(help: "Name of the user whose permissions should be revoked") var username: String

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(command: "clear_permissions", args: [username], options: ["vhost": scope.vhost]),
            inform: "Clearing permissions for user \"\(username)\" in vhost \"\(scope.vhost)\" ...")
    }
}

struct ListPermissions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_permissions", abstract: "Lists user permissions in a virtual host")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption

    func run() async throws {
        try await BrokerCall(options: options).run(
            listRequest("list_permissions", columns: [], vhost: scope.vhost),
            inform: "Listing permissions for vhost \"\(scope.vhost)\" ...")
    }
}

struct ListUserPermissions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_user_permissions", abstract: "Lists permissions of a user across all virtual hosts")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Name of the user") var username: String

    func run() async throws {
        var request = listRequest("list_user_permissions", columns: [])
        request.args = [username]
        try await BrokerCall(options: options).run(
            request, inform: "Listing permissions for user \"\(username)\" ...")
    }
}

struct SetTopicPermissions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set_topic_permissions", abstract: "Sets user topic permissions for an exchange")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @Argument(help: "Name of the user") var username: String
    @Argument(help: "Name of the topic exchange") var exchange: String
    @Argument(help: "Regular expression routing keys of publishes must match") var write: String
    @Argument(help: "Regular expression binding keys must match") var read: String

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(
                command: "set_topic_permissions", args: [username, exchange, write, read],
                options: ["vhost": scope.vhost]),
            inform:
                "Setting topic permissions on \"\(exchange)\" for user \"\(username)\" in vhost \"\(scope.vhost)\" ...")
    }
}

struct ClearTopicPermissions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear_topic_permissions", abstract: "Clears user topic permissions for a vhost or exchange")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @Argument(help: "Name of the user") var username: String
    @Argument(help: "Only for this exchange") var exchange: String?

    func run() async throws {
        let message =
            exchange.map {
                "Clearing topic permissions on \"\($0)\" for user \"\(username)\" in vhost \"\(scope.vhost)\" ..."
            } ?? "Clearing topic permissions for user \"\(username)\" in vhost \"\(scope.vhost)\" ..."
        try await BrokerCall(options: options).run(
            ControlRequest(
                command: "clear_topic_permissions", args: [username] + (exchange.map { [$0] } ?? []),
                options: ["vhost": scope.vhost]),
            inform: message)
    }
}

struct ListTopicPermissions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_topic_permissions", abstract: "Lists topic permissions in a virtual host")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption

    func run() async throws {
        try await BrokerCall(options: options).run(
            listRequest("list_topic_permissions", columns: [], vhost: scope.vhost),
            inform: "Listing topic permissions for vhost \"\(scope.vhost)\" ...")
    }
}
