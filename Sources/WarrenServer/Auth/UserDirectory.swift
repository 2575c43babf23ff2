import Foundation
import NIOConcurrencyHelpers
import WarrenCore

/// The broker's users, vhosts and permissions: a `UserDatabase` kept in `users.json` in the
/// data directory, with the compiled `AccessControl` derived from it. Read when connections
/// open and when commands change it, under a lock; the vhosts get a copy of the access rules
/// on their own loops, so no lock is taken per AMQP operation.
public final class UserDirectory: Sendable {
    private struct State {
        var database: UserDatabase
        var access: AccessControl
    }

    private let state: NIOLockedValueBox<State>
    /// Users allowed to log in only from loopback addresses (`loopback_users`).
    public let loopbackUsers: Set<String>
    private let path: String?

    /// Loads `users.json` from `dataDirectory`, or starts from `seed` when there is none.
    public init(dataDirectory: String?, seed: UserDatabase, loopbackUsers: Set<String>) throws {
        self.loopbackUsers = loopbackUsers
        self.path = dataDirectory.map { $0 + "/users.json" }
        var database = seed
        if let path, FileManager.default.fileExists(atPath: path) {
            database = try JSONDecoder().decode(UserDatabase.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        }
        state = NIOLockedValueBox(State(database: database, access: AccessControl(database)))
        if let path, !FileManager.default.fileExists(atPath: path) { try Self.save(database, to: path) }
    }

    public var database: UserDatabase { state.withLockedValue { $0.database } }
    public var access: AccessControl { state.withLockedValue { $0.access } }

    /// The user's name when the password is right and the user may connect from where it is.
    func authenticate(_ credentials: Credentials, fromLoopback: Bool) -> Bool {
        let database = self.database
        guard database.authenticate(credentials.user, password: credentials.password) != nil else { return false }
        return fromLoopback || !loopbackUsers.contains(credentials.user)
    }

    /// Applies a change and saves the result (and the access rules compiled from it); returns
    /// the new database.
    @discardableResult
    public func update<T>(
        _ change: (inout UserDatabase) throws -> T
    ) throws -> (result: T, database: UserDatabase) {
        try state.withLockedValue { state -> (result: T, database: UserDatabase) in
            var database = state.database
            let result = try change(&database)
            if database != state.database {
                if let path { try Self.save(database, to: path) }
                state.database = database
                state.access = AccessControl(database)
            }
            return (result, state.database)
        }
    }

    private static func save(_ database: UserDatabase, to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(database)
        let temporary = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: temporary))
        let fd = open(temporary, O_RDONLY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
        guard rename(temporary, path) == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }
}
