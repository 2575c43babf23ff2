/// Why a change to the user database was refused. The texts are those rabbitmqctl prints for
/// the most common commands; the control commands reword some per command as rabbitmqctl does.
public enum UserDatabaseError: Error, Sendable, Hashable, CustomStringConvertible {
    case userAlreadyExists(String)
    case noSuchUser(String)
    case noSuchVhost(String)
    case invalidPattern(String)
    case unknownHashingAlgorithm(String)
    /// A policy or parameter in a definitions file that cannot be applied.
    case invalidPolicy(name: String, PolicyError)

    public var description: String {
        switch self {
        case .userAlreadyExists(let name): "User \"\(name)\" already exists"
        case .noSuchUser(let name): "User \"\(name)\" does not exist"
        case .noSuchVhost(let name): "Virtual host '\(name)' does not exist"
        case .invalidPattern(let pattern): "regular expression '\(pattern)' is invalid"
        case .unknownHashingAlgorithm(let name): "unknown password hashing algorithm '\(name)'"
        case .invalidPolicy(let name, let error): "policy '\(name)': \(error.description)"
        }
    }
}
