/// A message as one queue holds it: its position in that queue (`sequence`, which keeps the
/// original order when messages are requeued), its priority level, whether it has been delivered before, and for
/// persistent messages in durable queues, where it is stored. `message` is nil while the
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
    public var redelivered: Bool
    /// The level it waits in, in a priority queue (its priority property, capped at the
    /// queue's maximum); 0 in other queues. Fits in the struct's padding.
    public let priority: UInt8

    public init(
        message: Message?, location: StoreLocation? = nil, sequence: UInt64, redelivered: Bool = false,
        expiresAt: UInt64 = 0, bodySize: Int? = nil, priority: UInt8 = 0
    ) {
        self.message = message
        self.sequence = sequence
        self.segment = location?.segment ?? 0
        self.offset = location?.offset ?? 0
        self.recordLength = location?.length ?? 0
        self.expiry = expiresAt == 0 ? 0 : UInt32(truncatingIfNeeded: max((expiresAt + 15) >> 4, 1))
        self.size = UInt32(truncatingIfNeeded: bodySize ?? message?.bodySize ?? 0)
        self.redelivered = redelivered
        self.priority = priority
    }

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

    var expires: Bool { expiry != 0 }

    /// When the message expires (monotonic milliseconds, rounded up to 16), or nil for never.
    var expiresAt: UInt64? { expiry == 0 ? nil : UInt64(expiry) << 4 }

    /// The message of a delivery; queues load paged-out messages before handing them out.
    public var loaded: Message { message! }
}
