import AMQPProtocol

/// Queue arguments RabbitMQ compares when a queue is declared again.
enum QueueArguments {
    static let equivalenceKeys = [
        "x-message-ttl", "x-expires", "x-max-length", "x-max-length-bytes", "x-dead-letter-exchange",
        "x-dead-letter-routing-key", "x-max-priority", "x-overflow", "x-queue-type", "x-single-active-consumer",
        "x-queue-mode", "x-max-age", "x-stream-max-segment-size-bytes",
    ]

    /// The keys compared for a queue of this type (a quorum queue ignores the arguments it
    /// would refuse, as RabbitMQ does).
    static func equivalenceKeys(of type: QueueType) -> [String] {
        type == .quorum ? quorumEquivalenceKeys : equivalenceKeys
    }

    private static let quorumEquivalenceKeys = equivalenceKeys.filter {
        !QueueType.argumentsRefusedByQuorum.contains($0)
    }

    /// Whether a redeclaration's value matches the queue's: equal, or for `x-queue-type`,
    /// `classic` and no type at all.
    static func equivalent(_ key: String, _ current: FieldValue?, _ received: FieldValue?) -> Bool {
        if current == received { return true }
        if key == "x-queue-type" {
            func isClassic(_ v: FieldValue?) -> Bool { v == nil || v?.stringValue == "classic" }
            return isClassic(current) && isClassic(received)
        }
        return false
    }

    /// The received and current values in an inequivalent-arg error, as RabbitMQ writes them:
    /// quoted when both exist, else `none` and `the value 'v' of type 't'`.
    static func describeMismatch(received: FieldValue?, current: FieldValue?) -> (String, String) {
        if let received, let current { return ("'\(describe(received))'", "'\(describe(current))'") }
        func one(_ v: FieldValue?) -> String {
            guard let v else { return "none" }
            return "the value '\(describe(v))' of type '\(v.rabbitTypeName)'"
        }
        return (one(received), one(current))
    }

    static func describe(_ value: FieldValue?) -> String {
        guard let value else { return "none" }
        if let s = value.stringValue { return s }
        if let i = value.integerValue { return String(i) }
        if let b = value.boolValue { return String(b) }
        return "\(value)"
    }
}
