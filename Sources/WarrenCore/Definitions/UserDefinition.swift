/// A user in definitions: `{"name", "password_hash", "hashing_algorithm", "tags", "limits"}`.
/// RabbitMQ's importer also takes a clear-text `password` instead of a hash.
public struct UserDefinition: Sendable, Hashable, Codable {
    public var name: String
    /// Base64 of salt and digest; empty for a user whose password was cleared.
    public var passwordHash: String
    /// A `rabbit_password_hashing_*` name; absent in exports older than RabbitMQ 3.6 (MD5).
    public var hashingAlgorithm: String?
    public var tags: [String]
    public var limits: JSONValue?
    public var password: String?

    public init(
        name: String, passwordHash: String, hashingAlgorithm: String? = PasswordHashingAlgorithm.sha256.rawValue,
        tags: [String] = [], limits: JSONValue? = .object([:]), password: String? = nil
    ) {
        self.name = name
        self.passwordHash = passwordHash
        self.hashingAlgorithm = hashingAlgorithm
        self.tags = tags
        self.limits = limits
        self.password = password
    }

    enum CodingKeys: String, CodingKey {
        case name
        case passwordHash = "password_hash"
        case hashingAlgorithm = "hashing_algorithm"
        case tags
        case limits
        case password
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(String.self, forKey: .name)
        passwordHash = try container.decodeIfPresent(String.self, forKey: .passwordHash) ?? ""
        hashingAlgorithm = try container.decodeIfPresent(String.self, forKey: .hashingAlgorithm)
        tags = try container.decodeTags(forKey: .tags)
        limits = try container.decodeIfPresent(JSONValue.self, forKey: .limits)
        password = try container.decodeIfPresent(String.self, forKey: .password)
    }
}
