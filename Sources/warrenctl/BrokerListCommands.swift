import ArgumentParser
import WarrenControl

struct ListQueues: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_queues", abstract: "Lists queues and their properties")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @Argument(help: "Columns to show (default: name messages)") var columns: [String] = []

    func validate() throws { try validateColumns(columns, for: "list_queues") }

    func run() async throws {
        if options.informs { print("Timeout: \(options.timeout) seconds ...") }
        try await BrokerCall(options: options).run(
            listRequest("list_queues", columns: columns, vhost: scope.vhost),
            inform: "Listing queues for vhost \(scope.vhost) ...")
    }
}

struct ListExchanges: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list_exchanges", abstract: "Lists exchanges")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @Argument(help: "Columns to show (default: name type)") var columns: [String] = []

    func validate() throws { try validateColumns(columns, for: "list_exchanges") }

    func run() async throws {
        try await BrokerCall(options: options).run(
            listRequest("list_exchanges", columns: columns, vhost: scope.vhost),
            inform: "Listing exchanges for vhost \(scope.vhost) ...")
    }
}

struct ListBindings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_bindings", abstract: "Lists all bindings on a vhost")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @Argument(help: "Columns to show (default: all)") var columns: [String] = []

    func validate() throws { try validateColumns(columns, for: "list_bindings") }

    func run() async throws {
        // rabbitmqctl 3.10 prints no space before the dots here.
        try await BrokerCall(options: options).run(
            listRequest("list_bindings", columns: columns, vhost: scope.vhost),
            inform: "Listing bindings for vhost \(scope.vhost)...")
    }
}

struct ListConnections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_connections", abstract: "Lists AMQP 0.9.1 connections for the node")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Columns to show (default: user peer_host peer_port state)") var columns: [String] = []

    func validate() throws { try validateColumns(columns, for: "list_connections") }

    func run() async throws {
        try await BrokerCall(options: options).run(
            listRequest("list_connections", columns: columns), inform: "Listing connections ...")
    }
}

struct ListChannels: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_channels", abstract: "Lists all channels in the node")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Columns to show (default: pid user consumer_count messages_unacknowledged)")
    var columns: [String] = []

    func validate() throws { try validateColumns(columns, for: "list_channels") }

    func run() async throws {
        try await BrokerCall(options: options).run(
            listRequest("list_channels", columns: columns), inform: "Listing channels ...")
    }
}

struct ListConsumers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_consumers", abstract: "Lists all consumers for a vhost")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @Argument(help: "Columns to show") var columns: [String] = []

    func validate() throws { try validateColumns(columns, for: "list_consumers") }

    func run() async throws {
        try await BrokerCall(options: options).run(
            listRequest("list_consumers", columns: columns, vhost: scope.vhost),
            inform: "Listing consumers in vhost \(scope.vhost) ...")
    }
}
