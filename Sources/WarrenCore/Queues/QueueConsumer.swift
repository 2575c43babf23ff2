/// Something that takes messages from a queue: an AMQP consumer, and later an AMQP 1.0 link.
/// The queue asks `canReceive` before each delivery, so flow control (prefetch, channel.flow,
/// a full socket) lives with the consumer and the queue stays protocol-neutral.
public protocol QueueConsumer: AnyObject {
    var consumerTag: String { get }
    var isExclusive: Bool { get }
    /// The consumer priority (`x-priority`): the queue serves higher priorities first. Read
    /// when the consumer is added; 0 for most consumers.
    var priority: Int { get }
    /// True while deliveries made to this consumer await settlement (a single-active-consumer
    /// queue hands over only once its previous active consumer has none left).
    var hasUnsettledDeliveries: Bool { get }
    var canReceive: Bool { get }
    func deliver(_ message: QueuedMessage, from queue: MessageQueue)
    /// The queue is gone (deleted by a client or by expiry): the consumer ends.
    func queueWasDeleted(_ queue: MessageQueue)
}

extension QueueConsumer {
    public var priority: Int { 0 }
}
