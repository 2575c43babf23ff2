/// What an operator records about a vhost besides its name (`add_vhost --description --tags`).
public struct VhostMetadata: Sendable, Hashable, Codable {
    public var description: String
    public var tags: [String]
    /// The queue type for declarations that name none (`classic`, `quorum`, `stream`), if set.
    public var defaultQueueType: String?

    public init(description: String = "", tags: [String] = [], defaultQueueType: String? = nil) {
        self.description = description
        self.tags = tags
        self.defaultQueueType = defaultQueueType
    }

    enum CodingKeys: String, CodingKey {
        case description
        case tags
        case defaultQueueType = "default_queue_type"
    }

    /// The form of definitions' `metadata`; RabbitMQ 3.10 writes tags as an array or, when set
    /// with `add_vhost --tags`, as the comma-separated string given.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        description = try container.decodeIfPresent(String.self, forKey: .description) ?? ""
        tags = try container.decodeTags(forKey: .tags)
        defaultQueueType = try container.decodeIfPresent(String.self, forKey: .defaultQueueType)
    }
}
