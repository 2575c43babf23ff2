/// A message as one queue holds it: its position in that queue (`sequence`, which keeps the
/// original order when messages are requeued) and whether it has been delivered before.
public struct QueuedMessage: @unchecked Sendable {
    public let message: Message
    public let sequence: UInt64
    public var redelivered: Bool
    /// Monotonic milliseconds after which the message is dropped; 0 for never.
    public let expiresAt: UInt64

    public init(message: Message, sequence: UInt64, redelivered: Bool = false, expiresAt: UInt64 = 0) {
        self.message = message
        self.sequence = sequence
        self.redelivered = redelivered
        self.expiresAt = expiresAt
    }
}
