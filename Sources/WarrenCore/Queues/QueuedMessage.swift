/// A message as one queue holds it: its position in that queue (`sequence`, which keeps the
/// original order when messages are requeued), whether it has been delivered before, and for
/// persistent messages in durable queues, where it is stored. `message` is nil while the
/// message is paged out (only on disk).
public struct QueuedMessage: @unchecked Sendable {
    public var message: Message?
    public let location: StoreLocation?
    public let sequence: UInt64
    public var redelivered: Bool
    /// Monotonic milliseconds after which the message is dropped; 0 for never.
    public let expiresAt: UInt64
    public let bodySize: Int

    public init(
        message: Message?, location: StoreLocation? = nil, sequence: UInt64, redelivered: Bool = false,
        expiresAt: UInt64 = 0, bodySize: Int? = nil
    ) {
        self.message = message
        self.location = location
        self.sequence = sequence
        self.redelivered = redelivered
        self.expiresAt = expiresAt
        self.bodySize = bodySize ?? message?.bodySize ?? 0
    }

    /// The message of a delivery; queues load paged-out messages before handing them out.
    public var loaded: Message { message! }
}
