import Foundation
import Testing

@testable import WarrenCore

@Suite struct PasswordHashTests {
    // Derivation (Python): salt = bytes.fromhex("908DC60A")
    //   base64(salt + hashlib.sha256(salt + b"test12").digest()) — also the example in RabbitMQ's
    //   password hashing guide.
    static let salt: [UInt8] = [0x90, 0x8D, 0xC6, 0x0A]

    @Test func sha256MatchesTheIndependentVector() {
        let hash = PasswordHash(password: "test12", salt: Self.salt, algorithm: .sha256)
        #expect(hash.encoded == "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR")
    }

    // base64(salt + hashlib.sha512(salt + b"test12").digest())
    @Test func sha512MatchesTheIndependentVector() {
        let hash = PasswordHash(password: "test12", salt: Self.salt, algorithm: .sha512)
        #expect(
            hash.encoded
                == "kI3GChuNuIYf8lRbCCxZjgjKwsY19ns6+uFO0zcXRBGA/XGJPYD8OWMy7EB8TaOmAzjP2azv84GbINYwX2cDWb4DHnc=")
    }

    // base64(salt + hashlib.md5(salt + b"test12").digest())
    @Test func md5MatchesTheIndependentVector() {
        let hash = PasswordHash(password: "test12", salt: Self.salt, algorithm: .md5)
        #expect(hash.encoded == "kI3GChNpte2FApYFXScl+0dIluk=")
    }

    @Test func verifiesHashesOfEveryAlgorithm() {
        for algorithm in PasswordHashingAlgorithm.allCases {
            let hash = PasswordHash(password: "test12", salt: Self.salt, algorithm: algorithm)
            #expect(hash.verifies("test12"))
            #expect(!hash.verifies("test13"))
            #expect(!hash.verifies(""))
        }
    }

    /// `rabbitmqctl add_user warren-hash-probe secret` on RabbitMQ 3.10.8, then export_definitions.
    @Test func verifiesAHashMadeByRabbitMQ() {
        let hash = PasswordHash(
            encoded: "r7m7YJJ1d/a1Q7xBr29Kr5f8CoWi52fqH0muHlzeYAvAXXcM", algorithm: .sha256)
        #expect(hash.verifies("secret"))
        #expect(!hash.verifies("Secret"))
    }

    @Test func newHashesUseAFreshSaltEachTime() {
        let first = PasswordHash(password: "same")
        let second = PasswordHash(password: "same")
        #expect(first.algorithm == .sha256)
        #expect(first.encoded != second.encoded)
        #expect(first.verifies("same") && second.verifies("same"))
        #expect(Data(base64Encoded: first.encoded)?.count == 4 + 32)
    }

    @Test func malformedHashesMatchNothing() {
        for encoded in ["", "not base64!", "AAAA", "AAAAAAAA"] {
            #expect(!PasswordHash(encoded: encoded, algorithm: .sha256).verifies(""))
            #expect(!PasswordHash(encoded: encoded, algorithm: .sha256).verifies("x"))
        }
    }

    @Test func algorithmsHaveRabbitMQsNames() {
        #expect(PasswordHashingAlgorithm(rawValue: "rabbit_password_hashing_sha256") == .sha256)
        #expect(PasswordHashingAlgorithm(rawValue: "rabbit_password_hashing_sha512") == .sha512)
        #expect(PasswordHashingAlgorithm(rawValue: "rabbit_password_hashing_md5") == .md5)
    }

    @Test func nonASCIIPasswordsHashTheirUTF8() {
        let hash = PasswordHash(password: "pässwörd", salt: Self.salt)
        #expect(hash.verifies("pässwörd"))
        #expect(!hash.verifies("passwort"))
    }
}
