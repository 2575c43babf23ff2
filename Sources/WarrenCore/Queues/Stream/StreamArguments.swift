import AMQPProtocol

/// RabbitMQ's rules for declaring a stream (`x-queue-type: stream`) and for consuming from
/// one, with its reply codes and texts.
enum StreamArguments {
    static let typeName = "stream"
    /// RabbitMQ's default segment size (x-stream-max-segment-size-bytes).
    static let defaultSegmentSize = 500_000_000
    /// Segment positions are 32-bit: no segment grows past this, whatever is asked.
    static let largestSegmentSize = 1 << 31

    /// Arguments a stream refuses, as RabbitMQ's stream queue type does.
    static let unsupported: Set<String> = [
        "x-expires", "x-message-ttl", "x-max-length", "x-max-priority", "x-overflow", "x-dead-letter-exchange",
        "x-dead-letter-routing-key", "x-single-active-consumer", "x-queue-mode", "x-delivery-limit",
        "x-max-in-memory-length", "x-max-in-memory-bytes", "x-quorum-initial-group-size",
    ]

    static func isStream(_ arguments: FieldTable) -> Bool {
        arguments["x-queue-type"]?.stringValue == typeName
    }

    static func describe(queue: String, vhost: String) -> String { "queue '\(queue)' in vhost '\(vhost)'" }

    /// RabbitMQ answers some malformed values by crashing the channel process: the client sees
    /// the connection closed with 541 INTERNAL_ERROR and no detail.
    static var internalError: BrokerError {
        var e = BrokerError(.connection, ReplyCode.internalError, "")
        e.text = "INTERNAL_ERROR"
        return e
    }

    /// Checks a stream's declaration in RabbitMQ's order: argument values, a server-made name,
    /// arguments the type does not take, then the queue's properties.
    static func validate(
        _ arguments: FieldTable, queue: String, vhost: String, durable: Bool, exclusive: Bool, autoDelete: Bool,
        serverNamed: Bool
    ) throws(BrokerError) {
        let resource = describe(queue: queue, vhost: vhost)
        func invalid(_ key: String, _ reason: String) -> BrokerError {
            .preconditionFailed("invalid arg '\(key)' for \(resource): \(reason)")
        }
        for key in ["x-max-length-bytes", "x-max-age", "x-stream-max-segment-size-bytes"] {
            guard let value = arguments[key] else { continue }
            if key == "x-max-age" {
                guard let text = value.stringValue else {
                    throw invalid(key, "{unacceptable_type,\(value.rabbitTypeName)}")
                }
                guard MaxAge.milliseconds(text) != nil else { throw internalError }
                continue
            }
            guard let n = value.integerValue else {
                throw invalid(key, "\"expected integer, got \(value.rabbitTypeName)\"")
            }
            if n < 0 { throw invalid(key, "{value_negative,\(n)}") }
        }
        if serverNamed {
            throw .preconditionFailed("Cannot declare a server-named queue for type rabbit_stream_queue")
        }
        for entry in arguments.entries where unsupported.contains(entry.key) {
            throw .preconditionFailed("invalid arg '\(entry.key)' for \(resource) of queue type rabbit_stream_queue")
        }
        if autoDelete { throw .preconditionFailed("invalid property 'auto-delete' for \(resource)") }
        if exclusive { throw .preconditionFailed("invalid property 'exclusive-owner' for \(resource)") }
        if !durable { throw .preconditionFailed("invalid property 'non-durable' for \(resource)") }
    }

    /// The segment size and retention of a stream with these arguments under these policies:
    /// the smaller of argument and policy, as RabbitMQ resolves them (`limits` already combines
    /// max-length-bytes with the operator policy).
    static func configuration(
        arguments: FieldTable, limits: QueueLimits, policy: Policy?
    ) -> (
        segmentSize: Int, retention: StreamRetention
    ) {
        var segmentSize = arguments["x-stream-max-segment-size-bytes"]?.integerValue.map(Int.init)
        if case .int(let n)? = policy?["stream-max-segment-size-bytes"] {
            segmentSize = min(segmentSize ?? Int(n), Int(n))
        }
        var maxAge = arguments["x-max-age"]?.stringValue.flatMap(MaxAge.milliseconds)
        if let text = policy?["max-age"]?.stringValue, let ms = MaxAge.milliseconds(text) {
            maxAge = min(maxAge ?? ms, ms)
        }
        return (
            min(max(segmentSize ?? defaultSegmentSize, 0), largestSegmentSize),
            StreamRetention(maxBytes: limits.maxLengthBytes, maxAge: maxAge)
        )
    }

    /// Where a consumer starts (`x-stream-offset`).
    enum Offset: Equatable {
        case first, last, next
        case offset(Int64)
        /// Milliseconds since the epoch.
        case timestamp(Int64)
    }

    /// The consumer's `x-stream-offset`, as RabbitMQ 3.10 reads it: "first", "last", "next",
    /// a number, an AMQP timestamp (seconds) or an interval back from now ("1h", "7D").
    static func offset(_ arguments: FieldTable, now: Int64) throws(BrokerError) -> Offset {
        guard let value = arguments["x-stream-offset"] else { return .next }
        if case .timestamp(let seconds) = value { return .timestamp(Int64(clamping: seconds) &* 1000) }
        if case .longString = value, let text = value.stringValue {
            switch text {
            case "first": return .first
            case "last": return .last
            case "next": return .next
            default:
                guard let ms = MaxAge.milliseconds(text) else { throw internalError }
                return .timestamp(now - Int64(clamping: ms))
            }
        }
        if case .boolean = value { throw internalError }
        guard let n = value.integerValue else { throw internalError }
        return .offset(n)
    }

    /// The checks RabbitMQ makes when a stream gets a consumer.
    static func checkConsumer(
        queue: String, vhost: String, noAck: Bool, prefetch: UInt16, channelPrefetch: UInt16
    ) throws(BrokerError) {
        let resource = describe(queue: queue, vhost: vhost)
        if prefetch == 0 { throw .preconditionFailed("consumer prefetch count is not set for '\(resource)'") }
        if noAck { throw .notImplemented("automatic acknowledgement not supported by stream queues \(resource)") }
        if channelPrefetch != 0 { throw .notImplemented("\(resource) does not support global qos") }
    }
}
