/// warrenctl's exit statuses: rabbitmqctl's, which are the BSD sysexits codes.
public enum ControlExitStatus: Int32, Sendable, Hashable, Codable {
    case ok = 0
    /// Wrong arguments or options (EX_USAGE).
    case usage = 64
    /// Input that cannot be used: failed authentication, a vhost that does not exist (EX_DATAERR).
    case dataError = 65
    /// The user named does not exist (EX_NOUSER).
    case noUser = 67
    /// The broker cannot be reached, or a resource it needs is missing (EX_UNAVAILABLE).
    case unavailable = 69
    /// The broker refused: an existing user, an internal failure (EX_SOFTWARE).
    case software = 70
    /// Timed out waiting for the broker (EX_TEMPFAIL).
    case timeout = 75
}
