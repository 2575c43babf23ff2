import AMQPProtocol

/// The queue arguments that bound a queue: message TTL, length limits and what happens when
/// they are reached, the queue's own expiry when unused, where dead messages go, and for quorum
/// queues how often a message may be returned.
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
    /// Quorum queues: how many times a message may come back to the queue; past that it is
    /// dead-lettered (reason `delivery_limit`) or dropped (`x-delivery-limit`).
    public var deliveryLimit: Int?

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
        // RabbitMQ takes any value here; only an integer means something.
        deliveryLimit = arguments["x-delivery-limit"]?.integerValue.map { Int(clamping: $0) }
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

    /// The limits of a queue with these arguments under these policies, combined as RabbitMQ
    /// combines them: for TTLs, expiry and lengths the smallest of the argument, the policy and
    /// the operator policy applies; for the overflow rule the argument wins over the policy.
    /// Arguments were checked at declaration and policies when set.
    public init(arguments: FieldTable, policy: Policy?, operatorPolicy: Policy?) {
        self = (try? QueueLimits(arguments: arguments)) ?? QueueLimits()
        func policyInteger(_ key: String) -> Int64? {
            var result: Int64?
            for p in [policy, operatorPolicy] {
                guard case .int(let n)? = p?[key] else { continue }
                result = Swift.min(result ?? n, n)
            }
            return result
        }
        func smallest<T: FixedWidthInteger>(_ current: T?, _ key: String) -> T? {
            guard let fromPolicy = policyInteger(key).map({ T(clamping: $0) }) else { return current }
            return Swift.min(current ?? fromPolicy, fromPolicy)
        }
        messageTTL = smallest(messageTTL, "message-ttl")
        expires = smallest(expires, "expires")
        maxLength = smallest(maxLength, "max-length")
        maxLengthBytes = smallest(maxLengthBytes, "max-length-bytes")
        deliveryLimit = smallest(deliveryLimit, "delivery-limit")
        if arguments["x-overflow"] == nil, let s = policy?["overflow"]?.stringValue, let o = Overflow(rawValue: s) {
            overflow = o
        }
        // The dead-letter exchange and its routing key come from the arguments as a pair, else
        // from the policy.
        if arguments["x-dead-letter-exchange"] == nil, let dlx = policy?["dead-letter-exchange"]?.stringValue {
            deadLetterExchange = dlx
            deadLetterRoutingKey = policy?["dead-letter-routing-key"]?.stringValue
        } else if arguments["x-dead-letter-routing-key"] == nil, deadLetterExchange != nil,
            let key = policy?["dead-letter-routing-key"]?.stringValue
        {
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
