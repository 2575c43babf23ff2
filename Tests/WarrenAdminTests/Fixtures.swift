import Foundation

/// Files under the repository's tests/fixtures/, found from this source file's path.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("tests/fixtures")

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: directory.appendingPathComponent(name))
    }

    /// The export from RabbitMQ 3.10.8 described in tests/fixtures/README.md.
    static func rabbitMQDefinitions() throws -> Data { try data("rabbitmq-3.10-definitions.json") }

    /// The fixture's users and their passwords.
    static let passwords = [
        "guest": "guest", "admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret",
        "monitor": "monitor-secret",
    ]
}
