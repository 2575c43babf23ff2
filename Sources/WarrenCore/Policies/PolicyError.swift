/// Why a policy or runtime parameter was refused, worded as rabbitmqctl words it.
public enum PolicyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The definition failed validation: RabbitMQ prints "Validation failed" and the reason.
    case validation(String)
    case invalidPattern(String)
    case invalidTarget(String)
    case noSuchVhost(String)
    case notFound
    case invalidJSON

    public var description: String {
        switch self {
        case .validation(let reason): "Validation failed\n\n\(reason)\n"
        case .invalidPattern(let pattern): "pattern should be regular expression but is invalid: \(pattern)"
        case .invalidTarget(let given): "apply-to '\(given)' unrecognised; should be 'queues', 'exchanges' or 'all'"
        case .noSuchVhost(let name): "Virtual host '\(name)' does not exist"
        case .notFound: "Parameter does not exist"
        case .invalidJSON: "JSON decoding error. Reason: badarg"
        }
    }
}
