import ArgumentParser
import WarrenControl

/// The options set_policy and set_operator_policy share.
struct PolicyArguments: ParsableArguments {
    @Option(help: "Policy priority; the matching policy of highest priority applies") var priority: Int = 0
    @Option(name: .customLong("apply-to"), help: "What the policy applies to: queues, exchanges or all")
    var applyTo: String = "all"
    @Argument(help: "Policy name") var name: String
    @Argument(help: "Regular expression pattern that queue and exchange names are matched against") var pattern: String
    @Argument(help: "Policy definition (arguments), as a JSON object") var definition: String

    func request(_ command: String, vhost: String) -> ControlRequest {
        ControlRequest(
            command: command, args: [name, pattern, definition],
            options: ["vhost": vhost, "priority": String(priority), "apply_to": applyTo])
    }

    func inform(_ what: String, vhost: String) -> String {
        "Setting \(what) \"\(name)\" for pattern \"\(pattern)\" to \"\(definition)\" with priority \"\(priority)\" for vhost \"\(vhost)\" ..."
    }
}

struct SetPolicy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set_policy", abstract: "Sets or updates a policy")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @OptionGroup var policy: PolicyArguments

    func run() async throws {
        try await BrokerCall(options: options).run(
            policy.request("set_policy", vhost: scope.vhost), inform: policy.inform("policy", vhost: scope.vhost))
    }
}

struct SetOperatorPolicy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set_operator_policy",
        abstract: "Sets an operator policy that overrides a subset of arguments in user policies")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @OptionGroup var policy: PolicyArguments

    func run() async throws {
        try await BrokerCall(options: options).run(
            policy.request("set_operator_policy", vhost: scope.vhost),
            inform: policy.inform("operator policy override", vhost: scope.vhost))
    }
}

/// clear_policy and clear_operator_policy: one name in a vhost.
struct ClearPolicyArguments: ParsableArguments {
    @Argument(help: "Name of the policy to clear") var name: String

    func run(_ command: String, _ what: String, options: ControlOptions, vhost: String) async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(command: command, args: [name], options: ["vhost": vhost]),
            inform: "Clearing \(what) \"\(name)\" on vhost \"\(vhost)\" ...")
    }
}

struct ClearPolicy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "clear_policy", abstract: "Clears a policy")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @OptionGroup var policy: ClearPolicyArguments

    func run() async throws { try await policy.run("clear_policy", "policy", options: options, vhost: scope.vhost) }
}

struct ClearOperatorPolicy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear_operator_policy", abstract: "Clears an operator policy")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @OptionGroup var policy: ClearPolicyArguments

    func run() async throws {
        try await policy.run("clear_operator_policy", "operator policy", options: options, vhost: scope.vhost)
    }
}

struct ListPolicies: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_policies", abstract: "Lists all policies in a virtual host")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption

    func run() async throws {
        try await BrokerCall(options: options).run(
            listRequest("list_policies", columns: [], vhost: scope.vhost),
            inform: "Listing policies for vhost \"\(scope.vhost)\" ...")
    }
}

struct ListOperatorPolicies: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list_operator_policies", abstract: "Lists operator policy overrides for a virtual host")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption

    func run() async throws {
        try await BrokerCall(options: options).run(
            listRequest("list_operator_policies", columns: [], vhost: scope.vhost),
            inform: "Listing operator policy overrides for vhost \"\(scope.vhost)\" ...")
    }
}
