import Crypto

/// The password hashing functions RabbitMQ names in definitions (`hashing_algorithm`). New hashes
/// use SHA-256, RabbitMQ's default; SHA-512 and MD5 hashes come from other brokers' definitions.
public enum PasswordHashingAlgorithm: String, Sendable, Hashable, Codable, CaseIterable {
    case sha256 = "rabbit_password_hashing_sha256"
    case sha512 = "rabbit_password_hashing_sha512"
    /// Users created before RabbitMQ 3.6 have no algorithm recorded and are MD5.
    case md5 = "rabbit_password_hashing_md5"

    /// The digest of `salt ++ password`, without the salt in front.
    public func digest(salt: [UInt8], password: [UInt8]) -> [UInt8] {
        switch self {
        case .sha256:
            var hasher = SHA256()
            hasher.update(data: salt)
            hasher.update(data: password)
            return Array(hasher.finalize())
        case .sha512:
            var hasher = SHA512()
            hasher.update(data: salt)
            hasher.update(data: password)
            return Array(hasher.finalize())
        case .md5:
            var hasher = Insecure.MD5()
            hasher.update(data: salt)
            hasher.update(data: password)
            return Array(hasher.finalize())
        }
    }
}
