/// A message as one queue holds it: its position in that queue (`sequence`, which keeps the
/// original order when messages are requeued) and whether it has been delivered before.
public struct QueuedMessage: @unchecked Sendable {
    public let message: Message
    public let sequence: UInt64
    public var redelivered: Bool

    public init(message: Message, sequence: UInt64, redelivered: Bool = false) {
        self.message = message
        self.sequence = sequence
        self.redelivered = redelivered
    }
}
