/// RabbitMQ's checks of policy definitions: which keys a policy (or an operator policy) may set
/// and what values they take, with its messages.
public enum PolicyValidation {
    /// Keys an operator policy may set; they override user policies and queue arguments only
    /// downwards (the smaller value wins).
    public static let operatorKeys: Set<String> = [
        "expires", "message-ttl", "max-length", "max-length-bytes", "max-in-memory-length", "max-in-memory-bytes",
        "delivery-limit",
    ]

    static let userKeys: Set<String> = operatorKeys.union([
        "alternate-exchange", "dead-letter-exchange", "dead-letter-routing-key", "dead-letter-strategy", "overflow",
        "queue-mode", "max-age", "stream-max-segment-size-bytes", "initial-cluster-size", "queue-master-locator",
        "queue-leader-locator", "ha-mode", "ha-params", "ha-sync-mode", "ha-sync-batch-size", "ha-promote-on-shutdown",
        "ha-promote-on-failure", "federation-upstream", "federation-upstream-set",
    ])

    /// Throws `PolicyError.validation` when the definition is not one RabbitMQ accepts.
    public static func validate(_ definition: [String: JSONValue], operatorPolicy: Bool) throws(PolicyError) {
        if definition.isEmpty { throw .validation("no policy provided") }
        let allowed = operatorPolicy ? operatorKeys : userKeys
        let unknown = definition.keys.filter { !allowed.contains($0) }.sorted()
        if !unknown.isEmpty {
            let items = unknown.map { "{<<\"\($0)\">>,\(erlang(definition[$0]!))}" }.joined(separator: ",")
            throw .validation("[\(items)] are not recognised policy settings")
        }
        for key in definition.keys.sorted() {
            if let problem = check(key, definition[key]!, in: definition) { throw .validation(problem) }
        }
    }

    private static func check(_ key: String, _ value: JSONValue, in definition: [String: JSONValue]) -> String? {
        func nonNegative(_ what: String, positive: Bool = false) -> String? {
            guard case .int(let n) = value, n >= (positive ? 1 : 0) else {
                return "\(erlang(value)) is not a valid \(what)"
            }
            return nil
        }
        func oneOf(_ choices: [String], _ what: String) -> String? {
            guard let s = value.stringValue, choices.contains(s) else {
                return "\(erlang(value)) is not a valid \(what)"
            }
            return nil
        }
        func name(_ what: String) -> String? {
            value.stringValue == nil ? "\(erlang(value)) is not a valid \(what) name" : nil
        }
        switch key {
        case "message-ttl": return nonNegative("message TTL")
        case "expires": return nonNegative("queue expiry", positive: true)
        case "max-length", "max-in-memory-length": return nonNegative("maximum length")
        case "max-length-bytes", "max-in-memory-bytes": return nonNegative("maximum length in bytes")
        case "delivery-limit": return nonNegative("delivery limit")
        case "overflow": return oneOf(["drop-head", "reject-publish", "reject-publish-dlx"], "overflow value")
        case "queue-mode": return oneOf(["default", "lazy"], "queue-mode value")
        case "dead-letter-strategy": return oneOf(["at-most-once", "at-least-once"], "dead letter strategy")
        case "dead-letter-exchange": return name("dead letter exchange")
        case "alternate-exchange": return name("alternate exchange")
        case "dead-letter-routing-key":
            return value.stringValue == nil ? "\(erlang(value)) is not a valid dead letter routing key" : nil
        case "max-age":
            guard let s = value.stringValue, MaxAge.milliseconds(s) != nil else {
                return "\(erlang(value)) is not a valid max-age value"
            }
            return nil
        case "queue-master-locator", "queue-leader-locator":
            guard let s = value.stringValue, ["client-local", "min-masters", "random", "balanced"].contains(s) else {
                return "\(erlang(value)) invalid \(key) value"
            }
            return nil
        case "ha-mode":
            guard let mode = value.stringValue, ["all", "exactly", "nodes"].contains(mode) else {
                return "\(erlang(value)) is not a valid ha-mode value"
            }
            if mode == "exactly" {
                guard case .int(let n)? = definition["ha-params"] else {
                    return "ha-mode=\"exactly\" takes an integer, none given"
                }
                if n < 1 { return "ha-mode=\"exactly\" takes an integer, \(n) given" }
            }
            if mode == "nodes", case .array? = definition["ha-params"] {
            } else if mode == "nodes" {
                return "ha-mode=\"nodes\" takes a list, none given"
            }
            return nil
        case "ha-params", "ha-sync-mode", "ha-promote-on-shutdown", "ha-promote-on-failure", "ha-sync-batch-size":
            guard definition["ha-mode"] != nil else {
                return "ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown"
            }
            switch key {
            case "ha-sync-mode":
                guard let s = value.stringValue, ["manual", "automatic"].contains(s) else {
                    return "ha-sync-mode must be \"manual\" or \"automatic\", got \(erlang(value))"
                }
            case "ha-promote-on-shutdown", "ha-promote-on-failure":
                guard let s = value.stringValue, ["always", "when-synced"].contains(s) else {
                    return "\(key) must be \"always\" or \"when-synced\", got \(erlang(value))"
                }
            case "ha-sync-batch-size":
                guard case .int(let n) = value, n > 0 else {
                    return "ha-sync-batch-size takes an integer greater than 0, \(erlang(value)) given"
                }
            default: break
            }
            return nil
        case "stream-max-segment-size-bytes", "initial-cluster-size":
            return nonNegative(key == "initial-cluster-size" ? "initial cluster size" : "segment size", positive: true)
        default:
            return nil
        }
    }

    /// A JSON value as RabbitMQ prints an Erlang term in its messages.
    static func erlang(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): "<<\"\(s)\">>"
        case .int(let n): String(n)
        case .double(let d): String(d)
        case .bool(let b): String(b)
        case .null: "null"
        case .array(let a): "[" + a.map(erlang).joined(separator: ",") + "]"
        case .object(let o):
            "#{" + o.keys.sorted().map { "<<\"\($0)\">> => \(erlang(o[$0]!))" }.joined(separator: ",") + "}"
        }
    }
}

/// Stream retention ages as RabbitMQ writes them: a number and a unit, Y M D h m s.
public enum MaxAge {
    public static func milliseconds(_ text: String) -> UInt64? {
        guard let unit = text.last, let n = UInt64(text.dropLast()) else { return nil }
        let seconds: UInt64
        switch unit {
        case "Y": seconds = 365 * 86400
        case "M": seconds = 30 * 86400
        case "D": seconds = 86400
        case "h": seconds = 3600
        case "m": seconds = 60
        case "s": seconds = 1
        default: return nil
        }
        return n * seconds * 1000
    }
}
