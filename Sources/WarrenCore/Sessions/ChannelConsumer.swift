import AMQPProtocol

/// A basic.consume subscription: a queue's consumer that delivers through one channel,
/// within that channel's prefetch windows.
final class ChannelConsumer: QueueConsumer {
    let consumerTag: String
    let queue: MessageQueue
    let noAck: Bool
    let isExclusive: Bool
    let priority: Int
    /// basic.consume's arguments (list_consumers shows them).
    let arguments: FieldTable
    /// basic.qos prefetch-count with global=false, fixed when the consumer was created.
    let prefetch: UInt16
    var unacked = 0
    unowned let channel: ChannelSession

    init(
        tag: String, queue: MessageQueue, noAck: Bool, exclusive: Bool, prefetch: UInt16, priority: Int = 0,
        arguments: FieldTable = FieldTable(), channel: ChannelSession
    ) {
        self.consumerTag = tag
        self.priority = priority
        self.arguments = arguments
        self.queue = queue
        self.noAck = noAck
        self.isExclusive = exclusive
        self.prefetch = prefetch
        self.channel = channel
    }

    var canReceive: Bool {
        guard channel.canDeliver else { return false }
        if noAck { return true }
        if prefetch != 0 && unacked >= Int(prefetch) { return false }
        return channel.withinChannelPrefetch
    }

    var hasUnsettledDeliveries: Bool { unacked > 0 }

    func deliver(_ message: QueuedMessage, from queue: MessageQueue) {
        channel.deliver(message, from: queue, to: self)
    }

    func queueWasDeleted(_ queue: MessageQueue) {
        channel.consumerLostQueue(self)
    }
}
