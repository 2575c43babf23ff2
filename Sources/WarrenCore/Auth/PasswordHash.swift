import Foundation

/// A salted password hash in RabbitMQ's format: `base64(salt ++ H(salt ++ utf8(password)))` with a
/// 4-byte salt, as `rabbit_password` stores it and definitions carry it in `password_hash`.
public struct PasswordHash: Sendable, Hashable, Codable {
    public static let saltLength = 4

    /// The base64 text as it appears in definitions.
    public var encoded: String
    public var algorithm: PasswordHashingAlgorithm

    public init(encoded: String, algorithm: PasswordHashingAlgorithm) {
        self.encoded = encoded
        self.algorithm = algorithm
    }

    /// Hashes `password` with a fresh random salt.
    public init(password: String, algorithm: PasswordHashingAlgorithm = .sha256) {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<Self.saltLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        self.init(password: password, salt: salt, algorithm: algorithm)
    }

    public init(password: String, salt: [UInt8], algorithm: PasswordHashingAlgorithm = .sha256) {
        let digest = algorithm.digest(salt: salt, password: Array(password.utf8))
        self.init(encoded: Data(salt + digest).base64EncodedString(), algorithm: algorithm)
    }

    /// True when `password` hashes to this value. A hash that is not base64, or holds nothing
    /// after the salt, matches no password (RabbitMQ refuses such logins too).
    public func verifies(_ password: String) -> Bool {
        guard let bytes = Data(base64Encoded: encoded).map(Array.init), bytes.count > Self.saltLength else {
            return false
        }
        let salt = Array(bytes[..<Self.saltLength])
        let expected = bytes[Self.saltLength...]
        let actual = algorithm.digest(salt: salt, password: Array(password.utf8))
        guard actual.count == expected.count else { return false }
        // Compare every byte so the time taken says nothing about where a mismatch is.
        var difference: UInt8 = 0
        for (a, b) in zip(actual, expected) { difference |= a ^ b }
        return difference == 0
    }
}
