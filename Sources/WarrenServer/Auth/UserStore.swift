import NIOConcurrencyHelpers

/// The users allowed to log in. For now the built-in default user (guest/guest), allowed only
/// from loopback addresses as RabbitMQ allows it.
public final class UserStore: Sendable {
    struct User {
        var password: String
        var loopbackOnly: Bool
    }

    private let users: NIOLockedValueBox<[String: User]>

    public init(defaultUser: String = "guest", defaultPassword: String = "guest", loopbackOnly: Bool = true) {
        users = NIOLockedValueBox([defaultUser: User(password: defaultPassword, loopbackOnly: loopbackOnly)])
    }

    /// True when the password is right and the user may connect from where it is.
    func authenticate(_ credentials: Credentials, fromLoopback: Bool) -> Bool {
        users.withLockedValue { users in
            guard let user = users[credentials.user], user.password == credentials.password else { return false }
            return fromLoopback || !user.loopbackOnly
        }
    }
}
