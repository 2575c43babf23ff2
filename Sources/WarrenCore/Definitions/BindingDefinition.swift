import AMQPProtocol

/// A binding: `{"source", "vhost", "destination", "destination_type", "routing_key", "arguments"}`.
/// The source is an exchange; the destination a queue or, for exchange-to-exchange bindings, an
/// exchange.
public struct BindingDefinition: Sendable, Hashable, Codable {
    public enum DestinationType: String, Sendable, Hashable, Codable {
        case queue
        case exchange
    }

    public var source: String
    public var vhost: String
    public var destination: String
    public var destinationType: DestinationType
    public var routingKey: String
    public var arguments: FieldTable

    public init(
        source: String, vhost: String, destination: String, destinationType: DestinationType = .queue,
        routingKey: String = "", arguments: FieldTable = [:]
    ) {
        self.source = source
        self.vhost = vhost
        self.destination = destination
        self.destinationType = destinationType
        self.routingKey = routingKey
        self.arguments = arguments
    }

    enum CodingKeys: String, CodingKey {
        case source, vhost, destination, arguments
        case destinationType = "destination_type"
        case routingKey = "routing_key"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        source = try container.decode(String.self, forKey: .source)
        vhost = try container.decode(String.self, forKey: .vhost)
        destination = try container.decode(String.self, forKey: .destination)
        destinationType = try container.decode(DestinationType.self, forKey: .destinationType)
        routingKey = try container.decodeIfPresent(String.self, forKey: .routingKey) ?? ""
        arguments = try container.decodeArguments(forKey: .arguments)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(source, forKey: .source)
        try container.encode(vhost, forKey: .vhost)
        try container.encode(destination, forKey: .destination)
        try container.encode(destinationType, forKey: .destinationType)
        try container.encode(routingKey, forKey: .routingKey)
        try container.encode(JSONValue(arguments), forKey: .arguments)
    }
}
