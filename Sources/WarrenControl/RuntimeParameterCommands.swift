import Foundation
import WarrenCore

/// The policy and runtime-parameter commands of warrenctl (set_policy, set_operator_policy,
/// set_parameter, set_global_parameter, their clear_ and list_ forms), carried out on the
/// broker's database with rabbitmqctl's messages and exit statuses. Like `UserDatabaseCommands`,
/// the broker runs them under its lock, persists the result and hands each vhost its policies.
public enum RuntimeParameterCommands {
    public static let names: Set<String> = [
        "set_policy", "clear_policy", "list_policies", "set_operator_policy", "clear_operator_policy",
        "list_operator_policies", "set_parameter", "clear_parameter", "list_parameters", "set_global_parameter",
        "clear_global_parameter", "list_global_parameters",
    ]

    public static func changesDatabase(_ command: String) -> Bool {
        names.contains(command) && !command.hasPrefix("list_")
    }

    /// The component name under which rabbitmqctl lists operator policies as parameters.
    public static let operatorPolicyComponent = "operator_policy"

    public static func run(_ request: ControlRequest, on database: inout UserDatabase) -> ControlResponse? {
        guard names.contains(request.command) else { return nil }
        let args = request.args
        let vhost = request.vhost
        let usage = ControlResponse.failure("wrong number of arguments for \(request.command)", .usage)
        let isOperator = request.command.contains("operator_polic")
        let needsVhost = !request.command.contains("global")
        if needsVhost && !database.hasVhost(vhost) {
            return .failure(PolicyError.noSuchVhost(vhost).description, .dataError)
        }

        switch request.command {
        case "set_policy", "set_operator_policy":
            guard args.count == 3 else { return usage }
            guard let definition = jsonObject(args[2]) else {
                return .failure(PolicyError.invalidJSON.description, .unavailable)
            }
            guard let priority = Int(request.options["priority"] ?? "0") else { return usage }
            let policy = PolicyDefinition(
                vhost: vhost, name: args[0], pattern: args[1], applyTo: request.options["apply_to"] ?? "all",
                definition: definition, priority: priority)
            return change { () throws(PolicyError) in
                try database.runtimeParameters.setPolicy(policy, operatorPolicy: isOperator)
            }

        case "clear_policy", "clear_operator_policy":
            guard args.count == 1 else { return usage }
            return change { () throws(PolicyError) in
                try database.runtimeParameters.clearPolicy(vhost: vhost, name: args[0], operatorPolicy: isOperator)
            }

        case "list_policies", "list_operator_policies":
            let records = database.runtimeParameters.policies(inVhost: vhost, operatorPolicy: isOperator).map {
                p -> [String: JSONValue] in
                [
                    "vhost": .string(p.vhost), "name": .string(p.name), "pattern": .string(p.pattern),
                    "apply-to": .string(p.applyTo), "definition": .string(JSONText.render(.object(p.definition))),
                    "priority": .int(Int64(p.priority)),
                ]
            }
            return .table(ControlTable(columns: ListColumns.columns(for: request), records: records))

        case "set_parameter":
            guard args.count == 3 else { return usage }
            guard let value = json(args[2]) else { return .failure(PolicyError.invalidJSON.description, .unavailable) }
            database.runtimeParameters.setParameter(
                ParameterDefinition(vhost: vhost, component: args[0], name: args[1], value: value))
            return .done

        case "clear_parameter":
            guard args.count == 2 else { return usage }
            return change { () throws(PolicyError) in
                try database.runtimeParameters.clearParameter(vhost: vhost, component: args[0], name: args[1])
            }

        case "list_parameters":
            let records = parameterList(database.runtimeParameters, vhost: vhost).map { p -> [String: JSONValue] in
                [
                    "component": .string(p.component), "name": .string(p.name),
                    "value": .string(JSONText.render(p.value)),
                ]
            }
            return .table(ControlTable(columns: ListColumns.columns(for: request), records: records))

        case "set_global_parameter":
            guard args.count == 2 else { return usage }
            guard let value = json(args[1]) else { return .failure(PolicyError.invalidJSON.description, .unavailable) }
            database.runtimeParameters.setGlobalParameter(GlobalParameterDefinition(name: args[0], value: value))
            return .done

        case "clear_global_parameter":
            guard args.count == 1 else { return usage }
            return change { () throws(PolicyError) in try database.runtimeParameters.clearGlobalParameter(args[0]) }

        case "list_global_parameters":
            let records = database.runtimeParameters.globalParameters.map { p -> [String: JSONValue] in
                ["name": .string(p.name), "value": .string(JSONText.render(p.value))]
            }
            return .table(ControlTable(columns: ListColumns.columns(for: request), records: records))

        default:
            return nil
        }
    }

    /// The vhost's parameters as rabbitmqctl lists and exports them: operator policies appear
    /// among them, under the component `operator_policy`.
    public static func parameterList(_ parameters: RuntimeParameters, vhost: String? = nil) -> [ParameterDefinition] {
        let operatorPolicies = parameters.operatorPolicies.filter { vhost == nil || $0.vhost == vhost }.map {
            ParameterDefinition(
                vhost: $0.vhost, component: operatorPolicyComponent, name: $0.name,
                value: .object([
                    "pattern": .string($0.pattern), "definition": .object($0.definition),
                    "priority": .int(Int64($0.priority)), "apply-to": .string($0.applyTo),
                ]))
        }
        let others = parameters.parameters.filter { vhost == nil || $0.vhost == vhost }
        return (operatorPolicies + others).sorted {
            ($0.vhost, $0.component, $0.name) < ($1.vhost, $1.component, $1.name)
        }
    }

    private static func change(_ body: () throws(PolicyError) -> Void) -> ControlResponse {
        do {
            try body()
            return .done
        } catch {
            return .failure(error.description, .unavailable)
        }
    }

    private static func json(_ text: String) -> JSONValue? {
        try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    private static func jsonObject(_ text: String) -> [String: JSONValue]? {
        guard case .object(let o)? = json(text) else { return nil }
        return o
    }

}
