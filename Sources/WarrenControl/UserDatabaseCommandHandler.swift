import Foundation
import NIOConcurrencyHelpers
import WarrenCore

/// A complete `ControlCommandHandler` over an in-memory `UserDatabase`: the user, vhost and
/// permission commands, `export_definitions`/`import_definitions` of those sections, `status` and
/// `await_startup`. Commands about queues, exchanges and connections are refused: they need a
/// broker. The broker's own handler can follow this one and add those.
public final class UserDatabaseCommandHandler: ControlCommandHandler {
    private let database: NIOLockedValueBox<UserDatabase>
    private let onChange: @Sendable (UserDatabase) -> Void

    /// `onChange` runs after every command that may have changed the database, with the result.
    public init(database: UserDatabase = .seeded(), onChange: @escaping @Sendable (UserDatabase) -> Void = { _ in }) {
        self.database = NIOLockedValueBox(database)
        self.onChange = onChange
    }

    public var snapshot: UserDatabase { database.withLockedValue { $0 } }

    public func handle(_ request: ControlRequest) async -> ControlResponse {
        if let (response, changed) = database.withLockedValue({ database -> (ControlResponse, UserDatabase?)? in
            guard let response = UserDatabaseCommands.run(request, on: &database) else { return nil }
            return (response, UserDatabaseCommands.changesDatabase(request.command) ? database : nil)
        }) {
            if let changed { onChange(changed) }
            return response
        }
        switch request.command {
        case "await_startup":
            return .done
        case "status":
            let current = snapshot
            return .document(
                .object([
                    "product_name": .string("Warren"), "users": .int(Int64(current.users.count)),
                    "virtual_host_count": .int(Int64(current.vhosts.count)),
                ]))
        case "export_definitions":
            do {
                let data = try Definitions(userDatabase: snapshot).json()
                return .document(try JSONDecoder().decode(JSONValue.self, from: data))
            } catch {
                return .failure("cannot export definitions: \(error)", .software)
            }
        case "import_definitions":
            let definitions: Definitions
            do {
                definitions = try Definitions(json: Data((request.options["definitions"] ?? "").utf8))
            } catch {
                return .failure("Failed to decode definitions: \(error)", .dataError)
            }
            let result = database.withLockedValue { database -> Result<UserDatabase, UserDatabaseError> in
                var updated = database
                do throws(UserDatabaseError) {
                    try updated.importDefinitions(definitions)
                } catch {
                    return .failure(error)
                }
                database = updated
                return .success(updated)
            }
            switch result {
            case .success(let updated):
                onChange(updated)
                return .done
            case .failure(let error):
                return .failure("Failed to import definitions: \(error)", .dataError)
            }
        default:
            return .failure("command '\(request.command)' needs a running broker", .unavailable)
        }
    }
}
