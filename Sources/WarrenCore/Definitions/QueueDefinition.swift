import AMQPProtocol

/// A queue: `{"name", "vhost", "durable", "auto_delete", "arguments"}`, plus `type` from 3.10.
public struct QueueDefinition: Sendable, Hashable, Codable {
    public var name: String
    public var vhost: String
    public var durable: Bool
    public var autoDelete: Bool
    public var arguments: FieldTable
    /// `classic`, `quorum` or `stream`, when the export says.
    public var type: String?

    public init(
        name: String, vhost: String, durable: Bool = true, autoDelete: Bool = false, arguments: FieldTable = [:],
        type: String? = nil
    ) {
        self.name = name
        self.vhost = vhost
        self.durable = durable
        self.autoDelete = autoDelete
        self.arguments = arguments
        self.type = type
    }

    enum CodingKeys: String, CodingKey {
        case name, vhost, durable, arguments, type
        case autoDelete = "auto_delete"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        vhost = try container.decode(String.self, forKey: .vhost)
        durable = try container.decodeIfPresent(Bool.self, forKey: .durable) ?? true
        autoDelete = try container.decodeIfPresent(Bool.self, forKey: .autoDelete) ?? false
        arguments = try container.decodeArguments(forKey: .arguments)
        type = try container.decodeIfPresent(String.self, forKey: .type)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(vhost, forKey: .vhost)
        try container.encode(durable, forKey: .durable)
        try container.encode(autoDelete, forKey: .autoDelete)
        try container.encode(JSONValue(arguments), forKey: .arguments)
        try container.encodeIfPresent(type, forKey: .type)
    }
}
