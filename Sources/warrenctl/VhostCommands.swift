import ArgumentParser
import WarrenControl

struct AddVhost: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "add_vhost", abstract: "Creates a virtual host")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Virtual host name") var vhost: String
    @Option(help: "Virtual host description") var description: String?
    @Option(help: "Comma separated list of tags") var tags: String?
    @Option(help: "Queue type to use if no type is explicitly provided by the client")
    var defaultQueueType: String?

    func run() async throws {
        var request = ControlRequest(command: "add_vhost", args: [vhost])
        request.options["description"] = description
        request.options["tags"] = tags
        request.options["default_queue_type"] = defaultQueueType
        try await BrokerCall(options: options).run(request, inform: "Adding vhost \"\(vhost)\" ...")
    }
}

struct DeleteVhost: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete_vhost", abstract: "Deletes a virtual host")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Name of the virtual host to delete") var vhost: String

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(command: "delete_vhost", args: [vhost]), inform: "Deleting vhost \"\(vhost)\" ...")
    }
}

struct ListVhosts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list_vhosts", abstract: "Lists virtual hosts")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Columns to show") var columns: [String] = []

    func validate() throws { try validateColumns(columns, for: "list_vhosts") }

    func run() async throws {
        try await BrokerCall(options: options).run(
            listRequest("list_vhosts", columns: columns), inform: "Listing vhosts ...")
    }
}
