import ArgumentParser
import WarrenControl

struct SetParameter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set_parameter",
        abstract: "Sets a runtime parameter (kept and exported; Warren has no plugins that act on them)")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @Argument(help: "Component name, e.g. federation-upstream") var component: String
    @Argument(help: "Parameter name") var name: String
    @Argument(help: "Parameter value, as JSON") var value: String

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(command: "set_parameter", args: [component, name, value], options: ["vhost": scope.vhost]),
            inform:
                "Setting runtime parameter \"\(name)\" for component \"\(component)\" to \"\(value)\" in vhost \"\(scope.vhost)\" ..."
        )
    }
}

struct ClearParameter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear_parameter", abstract: "Clears a runtime parameter")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @Argument(help: "Component name") var component: String
    @Argument(help: "Parameter name") var name: String

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(command: "clear_parameter", args: [component, name], options: ["vhost": scope.vhost]),
            inform:
                "Clearing runtime parameter \"\(name)\" for component \"\(component)\" on vhost \"\(scope.vhost)\" ...")
    }
}

struct ListParameters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_parameters", abstract: "Lists runtime parameters for a virtual host")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption

    func run() async throws {
        try await BrokerCall(options: options).run(
            listRequest("list_parameters", columns: [], vhost: scope.vhost),
            inform: "Listing runtime parameters for vhost \"\(scope.vhost)\" ...")
    }
}

struct SetGlobalParameter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set_global_parameter", abstract: "Sets a runtime parameter")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Global parameter name") var name: String
    @Argument(help: "Parameter value, as JSON") var value: String

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(command: "set_global_parameter", args: [name, value]),
            inform: "Setting global runtime parameter \"\(name)\" to \"\(value)\" ...")
    }
}

struct ClearGlobalParameter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear_global_parameter", abstract: "Clears a global runtime parameter")
    @OptionGroup var options: ControlOptions
    @Argument(help: "Global parameter name") var name: String

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(command: "clear_global_parameter", args: [name]),
            inform: "Clearing global runtime parameter \"\(name)\" ...")
    }
}

struct ListGlobalParameters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_global_parameters", abstract: "Lists global runtime parameters")
    @OptionGroup var options: ControlOptions

    func run() async throws {
        try await BrokerCall(options: options).run(
            listRequest("list_global_parameters", columns: []), inform: "Listing global runtime parameters ...")
    }
}
