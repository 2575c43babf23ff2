import AMQPProtocol

/// The queue arguments that bound a queue: message TTL, length limits and what happens when
/// they are reached, the queue's own expiry when unused, and where dead messages go.
public struct QueueLimits: Sendable, Equatable {
    public enum Overflow: String, Sendable {
        case dropHead = "drop-head"
        case rejectPublish = "reject-publish"
        case rejectPublishDLX = "reject-publish-dlx"
    }

    public var messageTTL: UInt64?
    public var maxLength: Int?
    public var maxLengthBytes: Int?
    public var overflow: Overflow = .dropHead
    public var expires: UInt64?
    /// The exchange dead messages are republished to (`x-dead-letter-exchange`; "" is the
    /// default exchange); nil for none.
    public var deadLetterExchange: String?
    /// The routing key dead messages are republished with (`x-dead-letter-routing-key`); nil
    /// keeps their own routing keys.
    public var deadLetterRoutingKey: String?

    public init() {}

    /// Reads the limits from declare arguments, refusing bad values as RabbitMQ does (406).
    /// `queue` and `vhost` name the queue in the error texts.
    public init(arguments: FieldTable, queue: String = "", vhost: String = "/") throws(BrokerError) {
        func nonNegative(_ key: String, allowZero: Bool = true) throws(BrokerError) -> Int64? {
            guard let value = arguments[key] else { return nil }
            guard let n = value.integerValue else {
                throw .preconditionFailed(
                    "invalid arg '\(key)': expected an integer, got \(QueueArguments.describe(value))")
            }
            if n < 0 || (!allowZero && n == 0) {
                throw .preconditionFailed(
                    "invalid arg '\(key)' for queue: \(n) must be \(allowZero ? "non-negative" : "positive")")
            }
            return n
        }
        messageTTL = try nonNegative("x-message-ttl").map(UInt64.init)
        maxLength = try nonNegative("x-max-length").map(Int.init)
        maxLengthBytes = try nonNegative("x-max-length-bytes").map(Int.init)
        expires = try nonNegative("x-expires", allowZero: false).map(UInt64.init)
        if let value = arguments["x-overflow"] {
            guard let s = value.stringValue, let o = Overflow(rawValue: s) else {
                throw .preconditionFailed("invalid arg 'x-overflow': \(QueueArguments.describe(value))")
            }
            overflow = o
        }
        if let value = arguments["x-dead-letter-exchange"] {
            guard let name = value.stringValue else {
                throw .preconditionFailed(
                    "invalid type '\(value.rabbitTypeName)' for arg 'x-dead-letter-exchange' in queue '\(queue)' "
                        + "in vhost '\(vhost)'")
            }
            deadLetterExchange = name
        }
        if let value = arguments["x-dead-letter-routing-key"] {
            let invalid = "invalid arg 'x-dead-letter-routing-key' for queue '\(queue)' in vhost '\(vhost)'"
            guard let key = value.stringValue else {
                throw .preconditionFailed("\(invalid): {unacceptable_type,\(value.rabbitTypeName)}")
            }
            if deadLetterExchange == nil { throw .preconditionFailed("\(invalid): routing_key_but_no_dlx_defined") }
            deadLetterRoutingKey = key
        }
    }

    /// True when the queue needs the vhost's timer (TTLs or expiry).
    var isTimed: Bool { messageTTL != nil || expires != nil }
}

extension RawProperties {
    /// The per-message TTL from the expiration property, in milliseconds, if valid.
    var expirationMilliseconds: UInt64? {
        guard let text = expiration else { return nil }
        return UInt64(text)
    }
}

extension FieldValue {
    /// The type's name in RabbitMQ's error texts.
    var rabbitTypeName: String {
        switch self {
        case .boolean: return "bool"
        case .int8: return "byte"
        case .uint8: return "unsignedbyte"
        case .int16: return "short"
        case .uint16: return "unsignedshort"
        case .int32: return "signedint"
        case .uint32: return "unsignedint"
        case .int64: return "long"
        case .uint64: return "unsignedlong"
        case .float: return "float"
        case .double: return "double"
        case .decimal: return "decimal"
        case .longString: return "longstr"
        case .array: return "array"
        case .timestamp: return "timestamp"
        case .table: return "table"
        case .void: return "void"
        case .byteArray: return "binary"
        }
    }
}
