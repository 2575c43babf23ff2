/// One command sent to the broker over the control socket, as one line of JSON:
/// `{"command": "add_user", "args": ["alice", "secret"], "options": {"vhost": "/"}}`.
public struct ControlRequest: Sendable, Hashable, Codable {
    public var command: String
    /// Positional arguments, in rabbitmqctl's order.
    public var args: [String]
    /// Named options: `vhost`, `columns` (comma-separated), `if_empty`, ...
    public var options: [String: String]

    public init(command: String, args: [String] = [], options: [String: String] = [:]) {
        self.command = command
        self.args = args
        self.options = options
    }

    /// The vhost the command is scoped to (`-p`); `/` when not given.
    public var vhost: String { options["vhost"] ?? "/" }

    /// The columns asked for by a list command, in order; empty when the defaults are wanted.
    public var columns: [String] {
        options["columns"].map { $0.split(separator: ",").map(String.init) } ?? []
    }
}
