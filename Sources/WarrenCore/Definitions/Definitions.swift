import Foundation

/// RabbitMQ's definitions file: the JSON that `rabbitmqctl export_definitions` writes and
/// `import_definitions` (or `load_definitions` at boot) reads. Every section may be missing.
public struct Definitions: Sendable, Hashable, Codable {
    /// The RabbitMQ version Warren's exports claim, so RabbitMQ's importer reads them as current.
    public static let compatibleRabbitMQVersion = "3.10.8"

    public var rabbitVersion: String?
    public var rabbitmqVersion: String?
    public var productName: String?
    public var productVersion: String?
    public var users: [UserDefinition]
    public var vhosts: [VhostDefinition]
    public var permissions: [PermissionDefinition]
    public var topicPermissions: [TopicPermission]
    public var parameters: [ParameterDefinition]
    public var globalParameters: [GlobalParameterDefinition]
    public var policies: [PolicyDefinition]
    public var queues: [QueueDefinition]
    public var exchanges: [ExchangeDefinition]
    public var bindings: [BindingDefinition]

    public init(
        rabbitVersion: String? = Definitions.compatibleRabbitMQVersion,
        rabbitmqVersion: String? = Definitions.compatibleRabbitMQVersion,
        productName: String? = nil, productVersion: String? = nil,
        users: [UserDefinition] = [], vhosts: [VhostDefinition] = [], permissions: [PermissionDefinition] = [],
        topicPermissions: [TopicPermission] = [], parameters: [ParameterDefinition] = [],
        globalParameters: [GlobalParameterDefinition] = [], policies: [PolicyDefinition] = [],
        queues: [QueueDefinition] = [], exchanges: [ExchangeDefinition] = [], bindings: [BindingDefinition] = []
    ) {
        self.rabbitVersion = rabbitVersion
        self.rabbitmqVersion = rabbitmqVersion
        self.productName = productName
        self.productVersion = productVersion
        self.users = users
        self.vhosts = vhosts
        self.permissions = permissions
        self.topicPermissions = topicPermissions
        self.parameters = parameters
        self.globalParameters = globalParameters
        self.policies = policies
        self.queues = queues
        self.exchanges = exchanges
        self.bindings = bindings
    }

    enum CodingKeys: String, CodingKey {
        case rabbitVersion = "rabbit_version"
        case rabbitmqVersion = "rabbitmq_version"
        case productName = "product_name"
        case productVersion = "product_version"
        case users, vhosts, permissions
        case topicPermissions = "topic_permissions"
        case parameters
        case globalParameters = "global_parameters"
        case policies, queues, exchanges, bindings
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        rabbitVersion = try container.decodeIfPresent(String.self, forKey: .rabbitVersion)
        rabbitmqVersion = try container.decodeIfPresent(String.self, forKey: .rabbitmqVersion)
        productName = try container.decodeIfPresent(String.self, forKey: .productName)
        productVersion = try container.decodeIfPresent(String.self, forKey: .productVersion)
        users = try container.decodeIfPresent([UserDefinition].self, forKey: .users) ?? []
        vhosts = try container.decodeIfPresent([VhostDefinition].self, forKey: .vhosts) ?? []
        permissions = try container.decodeIfPresent([PermissionDefinition].self, forKey: .permissions) ?? []
        topicPermissions = try container.decodeIfPresent([TopicPermission].self, forKey: .topicPermissions) ?? []
        parameters = try container.decodeIfPresent([ParameterDefinition].self, forKey: .parameters) ?? []
        globalParameters =
            try container.decodeIfPresent([GlobalParameterDefinition].self, forKey: .globalParameters) ?? []
        policies = try container.decodeIfPresent([PolicyDefinition].self, forKey: .policies) ?? []
        queues = try container.decodeIfPresent([QueueDefinition].self, forKey: .queues) ?? []
        exchanges = try container.decodeIfPresent([ExchangeDefinition].self, forKey: .exchanges) ?? []
        bindings = try container.decodeIfPresent([BindingDefinition].self, forKey: .bindings) ?? []
    }

    public init(json: Data) throws {
        self = try JSONDecoder().decode(Definitions.self, from: json)
    }

    /// JSON with sorted keys and unescaped slashes, as RabbitMQ writes it.
    public func json(pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
