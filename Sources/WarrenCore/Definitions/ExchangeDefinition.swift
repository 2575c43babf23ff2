import AMQPProtocol

/// An exchange: `{"name", "vhost", "type", "durable", "auto_delete", "internal", "arguments"}`.
public struct ExchangeDefinition: Sendable, Hashable, Codable {
    public var name: String
    public var vhost: String
    public var type: String
    public var durable: Bool
    public var autoDelete: Bool
    public var `internal`: Bool
    public var arguments: FieldTable

    public init(
        name: String, vhost: String, type: String, durable: Bool = true, autoDelete: Bool = false,
        internal: Bool = false, arguments: FieldTable = [:]
    ) {
        self.name = name
        self.vhost = vhost
        self.type = type
        self.durable = durable
        self.autoDelete = autoDelete
        self.internal = `internal`
        self.arguments = arguments
    }

    enum CodingKeys: String, CodingKey {
        case name, vhost, type, durable, `internal`, arguments
        case autoDelete = "auto_delete"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        vhost = try container.decode(String.self, forKey: .vhost)
        type = try container.decode(String.self, forKey: .type)
        durable = try container.decodeIfPresent(Bool.self, forKey: .durable) ?? true
        autoDelete = try container.decodeIfPresent(Bool.self, forKey: .autoDelete) ?? false
        `internal` = try container.decodeIfPresent(Bool.self, forKey: .internal) ?? false
        arguments = try container.decodeArguments(forKey: .arguments)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(vhost, forKey: .vhost)
        try container.encode(type, forKey: .type)
        try container.encode(durable, forKey: .durable)
        try container.encode(autoDelete, forKey: .autoDelete)
        try container.encode(`internal`, forKey: .internal)
        try container.encode(JSONValue(arguments), forKey: .arguments)
    }
}
