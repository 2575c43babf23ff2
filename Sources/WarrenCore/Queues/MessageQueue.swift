import AMQPProtocol
import DequeModule

/// A classic in-memory queue: ready messages in publish order, consumers served round-robin.
/// Owned by its vhost's event loop; every method must be called there.
public final class MessageQueue: @unchecked Sendable {
    public let name: String
    public let durable: Bool
    public let autoDelete: Bool
    public let arguments: FieldTable
    public let limits: QueueLimits
    /// The connection that declared an exclusive queue; nil for shared queues.
    public let exclusiveOwner: UInt64?

    public private(set) var ready = Deque<QueuedMessage>()
    public private(set) var readyBytes = 0
    public private(set) var consumers: [QueueConsumer] = []
    public private(set) var isDeleted = false
    /// Set once a consumer has subscribed: auto-delete applies only after that.
    public private(set) var hasHadConsumers = false

    private var nextSequence: UInt64 = 0
    private var nextConsumer = 0
    /// True while the queue waits in its vhost's list of queues to drain at the end of a batch.
    var isScheduled = false
    weak var vhost: VirtualHost?

    /// Messages carrying their own expiration have been seen: the queue needs the timer.
    private(set) var hasMessageExpirations = false
    /// When the queue was last used (for x-expires), in monotonic milliseconds.
    var lastUsed: UInt64

    init(
        name: String, durable: Bool, autoDelete: Bool, exclusiveOwner: UInt64?, arguments: FieldTable,
        limits: QueueLimits = QueueLimits(), now: UInt64 = MonotonicClock.milliseconds()
    ) {
        self.name = name
        self.durable = durable
        self.autoDelete = autoDelete
        self.exclusiveOwner = exclusiveOwner
        self.arguments = arguments
        self.limits = limits
        self.lastUsed = now
    }

    var needsTimer: Bool { limits.isTimed || hasMessageExpirations }

    public var messageCount: Int { ready.count }
    public var consumerCount: Int { consumers.count }
    public var exclusiveConsumer: QueueConsumer? { consumers.first(where: { $0.isExclusive }) }

    /// Adds a message; false when the queue's overflow rule refuses it (reject-publish).
    @discardableResult
    public func enqueue(_ message: Message) -> Bool {
        var expiresAt: UInt64 = 0
        let perMessage = message.properties.expirationMilliseconds
        if limits.messageTTL != nil || perMessage != nil {
            let ttl = min(limits.messageTTL ?? .max, perMessage ?? .max)
            expiresAt = MonotonicClock.milliseconds() &+ max(ttl, 1)
            if perMessage != nil && !hasMessageExpirations {
                hasMessageExpirations = true
                vhost?.queueNeedsTimer(self)
            }
        }
        if isFull(adding: message.bodySize) {
            switch limits.overflow {
            case .rejectPublish, .rejectPublishDLX:
                return false
            case .dropHead:
                break
            }
        }
        ready.append(QueuedMessage(message: message, sequence: nextSequence, expiresAt: expiresAt))
        nextSequence &+= 1
        readyBytes += message.bodySize
        if limits.overflow == .dropHead { dropHeadWhileOverLimit() }
        scheduleDrain()
        return true
    }

    private func isFull(adding bytes: Int) -> Bool {
        if let max = limits.maxLength, ready.count + 1 > max { return true }
        if let max = limits.maxLengthBytes, readyBytes + bytes > max { return true }
        return false
    }

    private func dropHeadWhileOverLimit() {
        while let first = ready.first,
            (limits.maxLength.map { ready.count > $0 } ?? false)
                || (limits.maxLengthBytes.map { readyBytes > $0 } ?? false)
        {
            _ = first
            ready.removeFirst()
            readyBytes -= first.message.bodySize
        }
    }

    /// Drops expired messages from the head, as RabbitMQ expires them.
    func dropExpired(now: UInt64) {
        while let first = ready.first, first.expiresAt != 0, first.expiresAt <= now {
            ready.removeFirst()
            readyBytes -= first.message.bodySize
        }
    }

    /// Takes the next ready message (basic.get).
    public func dequeue() -> QueuedMessage? {
        if needsTimer { dropExpired(now: MonotonicClock.milliseconds()) }
        guard let m = ready.popFirst() else { return nil }
        readyBytes -= m.message.bodySize
        return m
    }

    /// Notes a use of the queue (consume, get, redeclare) for x-expires.
    public func touch() {
        if limits.expires != nil { lastUsed = MonotonicClock.milliseconds() }
    }

    /// True when an x-expires queue has been unused for longer than its expiry.
    func isExpired(now: UInt64) -> Bool {
        guard let expires = limits.expires, consumers.isEmpty else { return false }
        return now >= lastUsed + expires
    }

    /// Puts delivered messages back in their original positions, marked redelivered.
    public func requeue<S: Sequence>(_ messages: S) where S.Element == QueuedMessage {
        guard !isDeleted else { return }
        for var m in messages {
            m.redelivered = true
            readyBytes += m.message.bodySize
            // Requeued messages are usually older than everything ready: search from the front.
            var i = ready.startIndex
            while i < ready.endIndex && ready[i].sequence < m.sequence { i += 1 }
            ready.insert(m, at: i)
        }
        scheduleDrain()
    }

    /// Drops every ready message; returns how many there were.
    public func purge() -> Int {
        let n = ready.count
        ready.removeAll()
        readyBytes = 0
        return n
    }

    public func addConsumer(_ consumer: QueueConsumer) {
        consumers.append(consumer)
        hasHadConsumers = true
        scheduleDrain()
    }

    public func removeConsumer(_ consumer: QueueConsumer) {
        guard let i = consumers.firstIndex(where: { $0 === consumer }) else { return }
        consumers.remove(at: i)
        if nextConsumer > i { nextConsumer -= 1 }
        touch()
    }

    /// Asks the vhost to deliver from this queue at the end of the current batch.
    public func scheduleDrain() {
        guard !isScheduled, !isDeleted, !consumers.isEmpty, !ready.isEmpty else { return }
        isScheduled = true
        vhost?.queueNeedsDrain(self)
    }

    /// Delivers ready messages round-robin to consumers that can take them.
    func drain() {
        isScheduled = false
        if needsTimer { dropExpired(now: MonotonicClock.milliseconds()) }
        var refusals = 0
        while !ready.isEmpty && refusals < consumers.count {
            if nextConsumer >= consumers.count { nextConsumer = 0 }
            let consumer = consumers[nextConsumer]
            nextConsumer += 1
            guard consumer.canReceive else {
                refusals += 1
                continue
            }
            refusals = 0
            let m = ready.removeFirst()
            readyBytes -= m.message.bodySize
            consumer.deliver(m, from: self)
        }
    }

    func markDeleted() -> [QueueConsumer] {
        isDeleted = true
        let gone = consumers
        consumers.removeAll()
        ready.removeAll()
        readyBytes = 0
        return gone
    }
}
