/// A policy: `{"vhost", "name", "pattern", "apply-to", "definition", "priority"}`.
public struct PolicyDefinition: Sendable, Hashable, Codable {
    public var vhost: String
    public var name: String
    public var pattern: String
    /// `queues`, `exchanges` or `all`.
    public var applyTo: String
    public var definition: [String: JSONValue]
    public var priority: Int

    public init(
        vhost: String, name: String, pattern: String, applyTo: String = "all", definition: [String: JSONValue],
        priority: Int = 0
    ) {
        self.vhost = vhost
        self.name = name
        self.pattern = pattern
        self.applyTo = applyTo
        self.definition = definition
        self.priority = priority
    }

    enum CodingKeys: String, CodingKey {
        case vhost, name, pattern, definition, priority
        case applyTo = "apply-to"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        vhost = try container.decode(String.self, forKey: .vhost)
        name = try container.decode(String.self, forKey: .name)
        pattern = try container.decode(String.self, forKey: .pattern)
        applyTo = try container.decodeIfPresent(String.self, forKey: .applyTo) ?? "all"
        definition = try container.decode([String: JSONValue].self, forKey: .definition)
        priority = try container.decodeIfPresent(Int.self, forKey: .priority) ?? 0
    }
}

extension PolicyDefinition {
    /// An operator policy from its parameter form: `{"pattern", "definition", "priority",
    /// "apply-to"}`, where RabbitMQ 3.10 exports the definition as a list of key-value pairs.
    public init?(operatorPolicyParameter parameter: ParameterDefinition) {
        guard case .object(let value) = parameter.value, let pattern = value["pattern"]?.stringValue else {
            return nil
        }
        var definition: [String: JSONValue] = [:]
        switch value["definition"] {
        case .object(let object)?: definition = object
        case .array(let pairs)?:
            for pair in pairs {
                guard case .array(let kv) = pair, kv.count == 2, let key = kv[0].stringValue else { return nil }
                definition[key] = kv[1]
            }
        default: return nil
        }
        var priority = 0
        if case .int(let n)? = value["priority"] { priority = Int(n) }
        self.init(
            vhost: parameter.vhost, name: parameter.name, pattern: pattern,
            applyTo: value["apply-to"]?.stringValue ?? "all", definition: definition, priority: priority)
    }
}
