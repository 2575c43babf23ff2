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

extension QueueArguments {
    /// The highest priority a priority queue supports, as in RabbitMQ.
    static let maxSupportedPriority: Int64 = 255

    /// Checks `x-max-priority` and `x-single-active-consumer`, refusing bad values with
    /// RabbitMQ's texts (406).
    static func validateConsumptionArguments(_ arguments: FieldTable, queue: String, vhost: String) throws(BrokerError)
    {
        let invalid = { (key: String) in "invalid arg '\(key)' for queue '\(queue)' in vhost '\(vhost)'" }
        if let value = arguments["x-max-priority"] {
            guard let n = value.integerValue else {
                throw .preconditionFailed(
                    "\(invalid("x-max-priority")): \"expected integer, got \(value.rabbitTypeName)\"")
            }
            if n < 0 { throw .preconditionFailed("\(invalid("x-max-priority")): {value_negative,\(n)}") }
            if n > maxSupportedPriority {
                throw .preconditionFailed("\(invalid("x-max-priority")): {max_value_exceeded,\(n)}")
            }
        }
        if let value = arguments["x-single-active-consumer"], value.boolValue == nil {
            throw .preconditionFailed(
                "\(invalid("x-single-active-consumer")): {unacceptable_type,\(value.rabbitTypeName)}")
        }
    }

    /// The queue's highest priority level: nil for a queue without `x-max-priority` (or with
    /// 0, a single level, which behaves as a plain queue).
    static func maxPriority(_ arguments: FieldTable) -> UInt8? {
        guard let n = arguments["x-max-priority"]?.integerValue, n > 0 else { return nil }
        return UInt8(clamping: n)
    }

    static func isSingleActiveConsumer(_ arguments: FieldTable) -> Bool {
        arguments["x-single-active-consumer"]?.boolValue == true
    }

    /// The consumer priority of basic.consume's `x-priority` (0 when absent), refused as
    /// RabbitMQ refuses a value that is not an integer.
    static func consumerPriority(_ arguments: FieldTable, queue: String, vhost: String) throws(BrokerError) -> Int {
        guard let value = arguments["x-priority"] else { return 0 }
        guard let n = value.integerValue else {
            throw .preconditionFailed(
                "invalid arg 'x-priority' for queue '\(queue)' in vhost '\(vhost)': "
                    + "\"expected integer, got \(value.rabbitTypeName)\"")
        }
        return Int(n)
    }
}
