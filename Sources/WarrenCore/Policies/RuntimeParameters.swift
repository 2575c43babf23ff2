/// Policies, operator policies, vhost-scoped runtime parameters and global parameters, as the
/// broker keeps them (with users and vhosts, in its database) and as definitions files carry
/// them. A value; validation happens when something is set.
public struct RuntimeParameters: Sendable, Hashable, Codable {
    public private(set) var policies: [PolicyDefinition] = []
    public private(set) var operatorPolicies: [PolicyDefinition] = []
    public private(set) var parameters: [ParameterDefinition] = []
    public private(set) var globalParameters: [GlobalParameterDefinition] = []

    public init() {}

    enum CodingKeys: String, CodingKey {
        case policies
        case operatorPolicies = "operator_policies"
        case parameters
        case globalParameters = "global_parameters"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        policies = try c.decodeIfPresent([PolicyDefinition].self, forKey: .policies) ?? []
        operatorPolicies = try c.decodeIfPresent([PolicyDefinition].self, forKey: .operatorPolicies) ?? []
        parameters = try c.decodeIfPresent([ParameterDefinition].self, forKey: .parameters) ?? []
        globalParameters = try c.decodeIfPresent([GlobalParameterDefinition].self, forKey: .globalParameters) ?? []
    }

    // MARK: Policies

    /// Adds or replaces the policy of that name in its vhost, after RabbitMQ's checks.
    public mutating func setPolicy(_ policy: PolicyDefinition, operatorPolicy: Bool = false) throws(PolicyError) {
        _ = try Policy(policy)
        try PolicyValidation.validate(policy.definition, operatorPolicy: operatorPolicy)
        var list = operatorPolicy ? operatorPolicies : policies
        list.removeAll { $0.vhost == policy.vhost && $0.name == policy.name }
        list.append(policy)
        list.sort { ($0.vhost, $0.name) < ($1.vhost, $1.name) }
        if operatorPolicy { operatorPolicies = list } else { policies = list }
    }

    public mutating func clearPolicy(vhost: String, name: String, operatorPolicy: Bool = false) throws(PolicyError) {
        var list = operatorPolicy ? operatorPolicies : policies
        guard let i = list.firstIndex(where: { $0.vhost == vhost && $0.name == name }) else { throw .notFound }
        list.remove(at: i)
        if operatorPolicy { operatorPolicies = list } else { policies = list }
    }

    public func policies(inVhost vhost: String, operatorPolicy: Bool = false) -> [PolicyDefinition] {
        (operatorPolicy ? operatorPolicies : policies).filter { $0.vhost == vhost }
    }

    // MARK: Parameters

    /// Adds or replaces a vhost-scoped parameter. Warren keeps parameters of every component so
    /// definitions round-trip; components it has no plugin for have no effect.
    public mutating func setParameter(_ parameter: ParameterDefinition) {
        parameters.removeAll {
            $0.vhost == parameter.vhost && $0.component == parameter.component && $0.name == parameter.name
        }
        parameters.append(parameter)
        parameters.sort { ($0.vhost, $0.component, $0.name) < ($1.vhost, $1.component, $1.name) }
    }

    public mutating func clearParameter(vhost: String, component: String, name: String) throws(PolicyError) {
        guard
            let i = parameters.firstIndex(where: { $0.vhost == vhost && $0.component == component && $0.name == name })
        else { throw .notFound }
        parameters.remove(at: i)
    }

    public mutating func setGlobalParameter(_ parameter: GlobalParameterDefinition) {
        globalParameters.removeAll { $0.name == parameter.name }
        globalParameters.append(parameter)
        globalParameters.sort { $0.name < $1.name }
    }

    public mutating func clearGlobalParameter(_ name: String) throws(PolicyError) {
        guard let i = globalParameters.firstIndex(where: { $0.name == name }) else { throw .notFound }
        globalParameters.remove(at: i)
    }

    /// Everything scoped to a vhost goes with it.
    mutating func removeVhost(_ vhost: String) {
        policies.removeAll { $0.vhost == vhost }
        operatorPolicies.removeAll { $0.vhost == vhost }
        parameters.removeAll { $0.vhost == vhost }
    }
}
