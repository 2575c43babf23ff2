/// A message as one queue holds it: its position in that queue (`sequence`, which keeps the
/// original order when messages are requeued), its priority level, whether it has been delivered
/// before, how many times it came back to a quorum queue, and for persistent messages in durable
/// queues, where it is stored. `message` is nil while the
/// message is paged out (only on disk).
///
/// Kept to 40 bytes: a queue of millions of paged-out messages costs little more than this
/// each.
public struct QueuedMessage: @unchecked Sendable {
    public var message: Message?
    public let sequence: UInt64
    private let segment: UInt32
    private let offset: UInt32
    private let recordLength: UInt32
    /// Milliseconds on the monotonic clock, divided by 16 (enough for TTLs), after which the
    /// message is dropped; 0 for never.
    private let expiry: UInt32
    private let size: UInt32
    /// Bit 0: redelivered; bits 1-23: the delivery count (quorum queues: how many times the
    /// message was returned to its queue); bits 24-31: the priority level. One word, so the
    /// struct stays at 40 bytes.
    private var state: UInt32

    public init(
        message: Message?, location: StoreLocation? = nil, sequence: UInt64, redelivered: Bool = false,
        expiresAt: UInt64 = 0, bodySize: Int? = nil, deliveryCount: Int = 0, priority: UInt8 = 0
    ) {
        self.message = message
        self.sequence = sequence
        self.segment = location?.segment ?? 0
        self.offset = location?.offset ?? 0
        self.recordLength = location?.length ?? 0
        self.expiry = expiresAt == 0 ? 0 : UInt32(truncatingIfNeeded: max((expiresAt + 15) >> 4, 1))
        self.size = UInt32(truncatingIfNeeded: bodySize ?? message?.bodySize ?? 0)
        self.state =
            UInt32(priority) << 24 | UInt32(truncatingIfNeeded: min(deliveryCount, Self.maxDeliveryCount)) << 1
            | (redelivered ? 1 : 0)
    }

    public var redelivered: Bool {
        get { state & 1 != 0 }
        set { state = newValue ? state | 1 : state & ~1 }
    }

    static let maxDeliveryCount = (1 << 23) - 1

    /// How many times the message came back to its quorum queue (RabbitMQ's delivery count,
    /// sent as `x-delivery-count`); 0 in classic queues. Counts stop at 8 388 607.
    public var deliveryCount: Int {
        get { Int((state >> 1) & UInt32(Self.maxDeliveryCount)) }
        set {
            let count = UInt32(truncatingIfNeeded: min(max(newValue, 0), Self.maxDeliveryCount))
            state = (state & 0xFF00_0001) | count << 1
        }
    }

    /// The level it waits in, in a priority queue (its priority property, capped at the
    /// queue's maximum); 0 in other queues.
    public var priority: UInt8 { UInt8(truncatingIfNeeded: state >> 24) }

    /// Where the message is stored; nil when it is held in memory only. Segment numbers start
    /// at 1, so 0 means none.
    public var location: StoreLocation? {
        segment == 0 ? nil : StoreLocation(segment: segment, offset: offset, length: recordLength)
    }

    public var bodySize: Int { Int(size) }

    /// True when the message's TTL has passed at `now` (monotonic milliseconds).
    func isExpired(now: UInt64) -> Bool {
        expiry != 0 && UInt64(expiry) << 4 <= now
    }

    /// When the message expires (monotonic milliseconds, rounded up to 16), or nil for never.
    var expiresAt: UInt64? { expiry == 0 ? nil : UInt64(expiry) << 4 }

    /// The message of a delivery; queues load paged-out messages before handing them out.
    public var loaded: Message { message! }
}
