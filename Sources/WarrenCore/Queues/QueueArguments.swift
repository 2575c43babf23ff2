import AMQPProtocol

/// Queue arguments RabbitMQ compares when a queue is declared again.
enum QueueArguments {
    static let equivalenceKeys = [
        "x-message-ttl", "x-expires", "x-max-length", "x-max-length-bytes", "x-dead-letter-exchange",
        "x-dead-letter-routing-key", "x-max-priority", "x-overflow", "x-queue-type", "x-single-active-consumer",
        "x-queue-mode",
    ]

    static func describe(_ value: FieldValue?) -> String {
        guard let value else { return "none" }
        if let s = value.stringValue { return s }
        if let i = value.integerValue { return String(i) }
        if let b = value.boolValue { return String(b) }
        return "\(value)"
    }
}
