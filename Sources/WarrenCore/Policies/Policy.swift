/// A policy ready to match: its definition and its compiled pattern. Policies are kept as
/// `PolicyDefinition`s (the definitions-file form) in the broker's database; each vhost gets
/// its own compiled `Policy` values on its loop.
public struct Policy: Sendable {
    public let definition: PolicyDefinition
    public let target: PolicyTarget
    private let pattern: ResourcePattern

    public init(_ definition: PolicyDefinition) throws(PolicyError) {
        guard let target = PolicyTarget(rawValue: definition.applyTo) else {
            throw .invalidTarget(definition.applyTo)
        }
        self.definition = definition
        self.target = target
        do {
            pattern = try ResourcePattern(definition.pattern)
        } catch {
            throw .invalidPattern(definition.pattern)
        }
    }

    public var name: String { definition.name }
    public var priority: Int { definition.priority }
    public subscript(key: String) -> JSONValue? { definition.definition[key] }

    /// RabbitMQ searches for the pattern anywhere in the name, as permission patterns.
    func matches(_ name: String, kind: PolicyTarget) -> Bool {
        target.includes(kind) && pattern.matches(name)
    }
}

/// The policies and operator policies of one vhost. The one that applies to a queue or an
/// exchange is the matching one of highest priority (ties go to the name that sorts first).
public struct VhostPolicies: Sendable {
    public private(set) var policies: [Policy] = []
    public private(set) var operatorPolicies: [Policy] = []

    public init() {}

    /// Compiles what the database holds for `vhost`; definitions that no longer compile are
    /// skipped (they were validated when set).
    public init(vhost: String, parameters: RuntimeParameters) {
        func compiled(_ list: [PolicyDefinition]) -> [Policy] {
            list.filter { $0.vhost == vhost }.compactMap { try? Policy($0) }
                .sorted { ($1.priority, $0.name) < ($0.priority, $1.name) }
        }
        policies = compiled(parameters.policies)
        operatorPolicies = compiled(parameters.operatorPolicies)
    }

    public var isEmpty: Bool { policies.isEmpty && operatorPolicies.isEmpty }

    public func policy(for name: String, kind: PolicyTarget) -> Policy? {
        policies.first { $0.matches(name, kind: kind) }
    }

    public func operatorPolicy(for name: String, kind: PolicyTarget) -> Policy? {
        operatorPolicies.first { $0.matches(name, kind: kind) }
    }
}
