/// A user of the internal database: who may log in, with which password, and the tags the
/// management tools read (administrator, monitoring, ...).
public struct User: Sendable, Hashable, Codable {
    public var name: String
    /// The base64 salted hash; nil once the password is cleared, which disables password login.
    public var passwordHash: String?
    public var hashingAlgorithm: PasswordHashingAlgorithm
    public var tags: [String]

    public init(
        name: String, passwordHash: String?, hashingAlgorithm: PasswordHashingAlgorithm = .sha256,
        tags: [String] = []
    ) {
        self.name = name
        self.passwordHash = passwordHash
        self.hashingAlgorithm = hashingAlgorithm
        self.tags = tags
    }

    /// A user whose password is hashed now with a fresh salt.
    public init(name: String, password: String, tags: [String] = []) {
        let hash = PasswordHash(password: password)
        self.init(name: name, passwordHash: hash.encoded, hashingAlgorithm: hash.algorithm, tags: tags)
    }

    /// True when `password` is this user's. A blank password never logs in, as in RabbitMQ.
    public func verifies(password: String) -> Bool {
        guard !password.isEmpty, let passwordHash, !passwordHash.isEmpty else { return false }
        return PasswordHash(encoded: passwordHash, algorithm: hashingAlgorithm).verifies(password)
    }
}
