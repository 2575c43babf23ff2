import AMQPProtocol
import DequeModule
import Logging

/// A queue: ready messages in publish order (by priority first in a priority queue),
/// consumers served round-robin (the highest consumer priorities first when consumers set
/// them; only the first consumer with single active consumer). A durable queue also writes
/// persistent messages to its `QueueStore` and, past its memory budget, keeps only their
/// location, reading them back when they are delivered. A quorum queue (`type`) persists every
/// message and changes its state only through `apply(_:)` (Quorum/); a classic queue never
/// goes there.
/// Owned by its vhost's event loop; every method must be called there.
public final class MessageQueue: @unchecked Sendable {
    public let name: String
    public let durable: Bool
    public let autoDelete: Bool
    public let arguments: FieldTable
    /// Classic or quorum, from `x-queue-type`.
    public let type: QueueType
    /// From the arguments and the policies that apply; policies may change it at any time.
    public private(set) var limits: QueueLimits
    /// The policy and operator policy that apply, by name (list_queues policy).
    public private(set) var policyName: String?
    public private(set) var operatorPolicyName: String?
    /// The connection that declared an exclusive queue; nil for shared queues.
    public let exclusiveOwner: UInt64?

    /// The highest priority level (`x-max-priority`); nil for a plain queue.
    public let maxPriority: UInt8?
    /// `x-single-active-consumer`: only the first consumer receives; the next one takes over
    /// when it leaves.
    public let isSingleActiveConsumer: Bool

    private(set) var ready: ReadyMessages
    public private(set) var readyBytes = 0
    /// Messages delivered and not yet acknowledged (list_queues).
    public internal(set) var unacknowledged = 0
    public private(set) var consumers: [QueueConsumer] = []
    public private(set) var isDeleted = false
    /// Set once a consumer has subscribed: auto-delete applies only after that.
    public private(set) var hasHadConsumers = false

    private var nextSequence: UInt64 = 0
    private var nextConsumer = 0
    /// True while some consumer has a non-zero priority: `consumers` is then sorted by
    /// priority, highest first, and each priority has its own round-robin position.
    private var hasConsumerPriorities = false
    private var nextConsumerByPriority: [Int: Int] = [:]
    /// Single active consumer: active consumers that were cancelled while deliveries to them
    /// were unsettled. The next one receives only once those are acked or requeued, so that
    /// requeued messages reach it first and order holds.
    private var handingOver: [QueueConsumer] = []
    /// True while the queue waits in its vhost's list of queues to drain at the end of a batch.
    var isScheduled = false
    /// The last route that reached this queue (see `VirtualHost.route`).
    var routeMark: UInt64 = 0
    /// Not counted: a weak reference would give the vhost a side table, which puts every retain
    /// and release of it (several per message) on the runtime's slow path. The vhost outlives
    /// its queues: everything that holds a queue is held by the vhost or holds the vhost.
    unowned(unsafe) var vhost: VirtualHost?

    /// Persistent storage, for durable queues on a broker with a data directory.
    var storage: (messages: MessageStore, queue: QueueStore)?
    /// Set for a stream (`x-queue-type: stream`): its log and consumers' cursors replace
    /// `ready` (Stream/StreamQueue.swift).
    var stream: StreamQueue?
    /// Bytes of persisted bodies held in memory by ready messages.
    private var residentBytes = 0
    /// Whether publishers are being slowed to this queue's consumers' pace.
    var flow = PublisherFlow()

    /// Quorum queues: what their commands keep beyond the ready messages.
    var quorum = QuorumState()

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
        self.type = QueueType.declared(by: arguments)
        self.limits = limits
        self.lastUsed = now
        self.maxPriority = QueueArguments.maxPriority(arguments)
        self.isSingleActiveConsumer = QueueArguments.isSingleActiveConsumer(arguments)
        self.ready = ReadyMessages(maxPriority: maxPriority)
    }

    /// Whether the queue is kept in its vhost's store (durable queues and streams).
    var isStored: Bool { storage != nil || stream != nil }

    var needsTimer: Bool { limits.isTimed || hasMessageExpirations || stream?.log.retention.maxAge != nil }

    /// The earliest deadline this queue has in its vhost's timer heap; `.max` for none.
    var timerDeadline: UInt64 = .max

    /// When the queue next needs its timer: its head message expires, or (unused, with
    /// x-expires) the queue itself does. Only the head expires, as in RabbitMQ.
    func nextDeadline() -> UInt64? {
        if let stream { return stream.nextDeadline(now: MonotonicClock.milliseconds()) }
        var deadline = ready.first?.expiresAt ?? .max
        if let expires = limits.expires, consumers.isEmpty { deadline = min(deadline, lastUsed &+ expires) }
        return deadline == .max ? nil : deadline
    }

    /// Makes sure the vhost's timer visits this queue by its next deadline (a comparison when
    /// it already will).
    func rescheduleTimer() {
        guard needsTimer, let deadline = nextDeadline(), deadline < timerDeadline else { return }
        vhost?.scheduleTimer(self, at: deadline)
    }

    /// The policies that apply have changed: the limits they give take effect at once (a
    /// shorter length drops from the head; a TTL applies to messages published from now, as
    /// in RabbitMQ).
    func applyPolicies(_ policy: Policy?, _ operatorPolicy: Policy?, now: UInt64 = MonotonicClock.milliseconds()) {
        policyName = policy?.name
        operatorPolicyName = operatorPolicy?.name
        let updated = QueueLimits(arguments: arguments, policy: policy, operatorPolicy: operatorPolicy)
        if let stream {
            limits = updated
            stream.configure(arguments: arguments, limits: updated, policy: policy)
            rescheduleTimer()
            return
        }
        guard updated != limits else { return }
        if updated.expires != limits.expires { lastUsed = now }
        limits = updated
        if limits.overflow == .dropHead { dropHeadWhileOverLimit() }
        rescheduleTimer()
    }

    public var messageCount: Int { ready.count }
    public var consumerCount: Int { consumers.count }
    public var exclusiveConsumer: QueueConsumer? { consumers.first(where: { $0.isExclusive }) }

    /// True when `consumer` receives messages now: with single active consumer, only the
    /// first one registered does; the others wait.
    public func isActive(_ consumer: QueueConsumer) -> Bool {
        !isSingleActiveConsumer || consumers.first === consumer
    }

    /// The level of a message in this queue: its priority property capped at the maximum
    /// (no priority counts as 0).
    private func priorityLevel(of message: Message) -> UInt8 {
        guard let maxPriority, let p = message.properties.priority else { return 0 }
        return min(p, maxPriority)
    }

    // MARK: Enqueue

    public enum EnqueueResult: Equatable {
        /// Refused by the overflow rule (reject-publish, reject-publish-dlx).
        case refused
        /// Held in memory only.
        case queued
        /// Also written to the queue's store; durable once the store syncs.
        case persisted
    }

    @discardableResult
    public func enqueue(_ message: Message) -> EnqueueResult {
        if let stream {
            defer {
                scheduleDrain()
                rescheduleTimer()
            }
            return stream.append(message)
        }
        if type == .quorum { return apply(.enqueue(message)).enqueueResult }
        return append(message)
    }

    func append(_ message: Message) -> EnqueueResult {
        var expiresAt: UInt64 = 0
        let perMessage = message.properties.expirationMilliseconds
        if limits.messageTTL != nil || perMessage != nil {
            let ttl = min(limits.messageTTL ?? .max, perMessage ?? .max)
            expiresAt = MonotonicClock.milliseconds() &+ max(ttl, 1)
            if perMessage != nil { hasMessageExpirations = true }
        }
        let size = message.bodySize
        if isFull(adding: size) {
            switch limits.overflow {
            case .rejectPublish: return .refused
            case .rejectPublishDLX:
                deadLetterRefused(message)
                return .refused
            case .dropHead: break
            }
        }
        var location: StoreLocation?
        var kept: Message? = message
        // A quorum queue keeps every message, whatever its delivery mode.
        if let storage, message.properties.deliveryMode == 2 || type == .quorum {
            do {
                location = try storage.messages.append(message, to: storage.queue)
            } catch {
                vhost?.logger.error("cannot store a message of queue '\(name)': \(error)")
                return .refused
            }
            if residentBytes + size > storage.messages.queueMemoryLimit {
                kept = nil  // paged out: read back when delivered
            } else {
                residentBytes += size
            }
        }
        ready.append(
            QueuedMessage(
                message: kept, location: location, sequence: nextSequence, expiresAt: expiresAt, bodySize: size,
                priority: maxPriority == nil ? 0 : priorityLevel(of: message)))
        nextSequence &+= 1
        readyBytes += size
        if limits.overflow == .dropHead { dropHeadWhileOverLimit() }
        if expiresAt != 0 { rescheduleTimer() }
        if flow.isOn {
            vhost?.addedInFlow(self)
        } else if !flow.isWatched && !consumers.isEmpty && PublisherFlow.shouldWatch(ready: ready.count) {
            flow.watch(ready: ready.count)
            vhost?.watchFlow(self)
        }
        scheduleDrain()
        return location == nil ? .queued : .persisted
    }

    /// Adds messages recovered from the store at start-up (they may have been delivered), in
    /// the order they were stored; `priorities` gives each one's priority property (empty
    /// for a plain queue), `deliveryCounts` each one's returns (quorum queues). A queue TTL
    /// counts again from now.
    func restore(
        _ locations: [StoreLocation], bodySizes: [UInt32], deliveryCounts: [UInt32] = [], priorities: [UInt8] = []
    ) {
        let expiresAt = limits.messageTTL.map { MonotonicClock.milliseconds() &+ max($0, 1) } ?? 0
        for (i, (location, size)) in zip(locations, bodySizes).enumerated() {
            let priority = maxPriority.map { i < priorities.count ? min(priorities[i], $0) : 0 } ?? 0
            ready.append(
                QueuedMessage(
                    message: nil, location: location, sequence: nextSequence, redelivered: true,
                    expiresAt: expiresAt, bodySize: Int(size),
                    deliveryCount: i < deliveryCounts.count ? Int(deliveryCounts[i]) : 0, priority: priority))
            nextSequence &+= 1
            readyBytes += Int(size)
        }
    }

    private func isFull(adding bytes: Int) -> Bool {
        if let max = limits.maxLength, ready.count + 1 > max { return true }
        if let max = limits.maxLengthBytes, readyBytes + bytes > max { return true }
        return false
    }

    private func dropHeadWhileOverLimit() {
        while !ready.isEmpty,
            (limits.maxLength.map { ready.count > $0 } ?? false)
                || (limits.maxLengthBytes.map { readyBytes > $0 } ?? false)
        {
            discard(removeHead(), reason: .maxlen)
        }
    }

    /// Drops (or dead-letters) expired messages from the head, as RabbitMQ expires them.
    func dropExpired(now: UInt64) {
        if let stream { return stream.applyRetention() }
        while let first = ready.first, first.isExpired(now: now) {
            discard(removeHead(), reason: .expired)
        }
    }

    // MARK: Taking messages out

    private func removeHead() -> QueuedMessage {
        let m = ready.removeFirst()
        if quorum.returnsAhead > 0 { quorum.returnsAhead -= 1 }
        readyBytes -= m.bodySize
        if m.message != nil && m.location != nil { residentBytes -= m.bodySize }
        return m
    }

    /// The next ready message with its content loaded, or nil when none is left. A message that
    /// cannot be read back is logged and dropped.
    func takeHead() -> QueuedMessage? {
        while !ready.isEmpty {
            var m = removeHead()
            if m.message != nil { return m }
            guard let storage, let location = m.location else { continue }
            do {
                m.message = try storage.queue.read(location)
                return m
            } catch {
                vhost?.logger.error("dropped an unreadable message of queue '\(name)': \(error)")
                storage.messages.remove(location, from: storage.queue)
            }
        }
        return nil
    }

    /// Takes the next ready message (basic.get).
    public func dequeue() -> QueuedMessage? {
        let now = needsTimer ? MonotonicClock.milliseconds() : 0
        defer { if now != 0 { rescheduleTimer() } }
        return takeForDelivery(now: now)
    }

    /// A message is done with (acked, delivered without ack, dropped, expired or purged): its
    /// stored copy goes.
    public func settle(_ m: QueuedMessage) {
        if type == .quorum {
            apply(.settle(m))
        } else {
            forget(m)
        }
    }

    /// Removes the stored copy of a message the queue no longer holds.
    func forget(_ m: QueuedMessage) {
        guard let location = m.location, let storage, !isDeleted else { return }
        storage.messages.remove(location, from: storage.queue)
    }

    /// Puts delivered messages back in their original positions, marked redelivered. A quorum
    /// queue takes them back as RabbitMQ's do (`QuorumCommand.return`): `consumerGone` when their
    /// channel or connection closed, false for nack, reject and recover. A stream's messages
    /// never left it.
    public func requeue<S: Sequence>(_ messages: S, consumerGone: Bool = false) where S.Element == QueuedMessage {
        guard !isDeleted, stream == nil else { return }
        if type == .quorum {
            apply(.return(Array(messages), consumerGone: consumerGone))
            return
        }
        var sorted = messages.sorted(by: { $0.sequence < $1.sequence })
        for i in sorted.indices {
            sorted[i].redelivered = true
            readyBytes += sorted[i].bodySize
            if sorted[i].message != nil && sorted[i].location != nil { residentBytes += sorted[i].bodySize }
        }
        ready.insertInOrder(sorted)
        rescheduleTimer()
        scheduleDrain()
    }

    /// Puts a returned message back at `index` of the ready list (a quorum queue's return).
    func insertReady(_ m: QueuedMessage, at index: Int) {
        readyBytes += m.bodySize
        if m.message != nil && m.location != nil { residentBytes += m.bodySize }
        ready.insert(m, at: index)
    }

    /// Drops every ready message; returns how many there were.
    public func purge() -> Int {
        let n = ready.count
        if storage != nil {
            ready.forEach { forget($0) }
        }
        ready.removeAll()
        quorum.returnsAhead = 0
        readyBytes = 0
        residentBytes = 0
        return n
    }

    // MARK: Consumers

    public func addConsumer(_ consumer: QueueConsumer) {
        let priority = consumer.priority
        if isSingleActiveConsumer || (priority == 0 && !hasConsumerPriorities) {
            // Registration order: round-robin, or who is next to become active.
            consumers.append(consumer)
        } else {
            // Sorted by priority, highest first; after the others of the same priority.
            hasConsumerPriorities = true
            let i = consumers.firstIndex(where: { $0.priority < priority }) ?? consumers.endIndex
            consumers.insert(consumer, at: i)
            if nextConsumer > i { nextConsumer += 1 }
        }
        hasHadConsumers = true
        scheduleDrain()
    }

    public func removeConsumer(_ consumer: QueueConsumer) {
        guard let i = consumers.firstIndex(where: { $0 === consumer }) else { return }
        consumers.remove(at: i)
        if nextConsumer > i { nextConsumer -= 1 }
        if consumers.isEmpty && flow.hasParked { completeBatches(flow.releaseAll()) }
        stream?.detach(consumer)
        if hasConsumerPriorities && !consumers.contains(where: { $0.priority != 0 }) {
            hasConsumerPriorities = false
            nextConsumerByPriority.removeAll()
        }
        // With single active consumer, the next one in line takes over (once what the
        // previous one holds is settled).
        if isSingleActiveConsumer && i == 0 {
            if consumer.hasUnsettledDeliveries { handingOver.append(consumer) }
            scheduleDrain()
        }
        touch()
        rescheduleTimer()
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

    /// Asks the vhost to deliver from this queue at the end of the current batch.
    public func scheduleDrain() {
        guard !isScheduled, !isDeleted, !consumers.isEmpty, !ready.isEmpty || stream != nil else { return }
        isScheduled = true
        vhost?.queueNeedsDrain(self)
    }

    /// Delivers ready messages round-robin to consumers that can take them.
    func drain() {
        isScheduled = false
        if let stream { return stream.drain(consumers, from: self) }
        let now = needsTimer ? MonotonicClock.milliseconds() : 0
        if now != 0 { dropExpired(now: now) }
        let before = ready.count
        if isSingleActiveConsumer {
            drainToActiveConsumer(now: now)
        } else if hasConsumerPriorities {
            drainByConsumerPriority(now: now)
        } else {
            drainRoundRobin(now: now)
        }
        if now != 0 { rescheduleTimer() }
        if before > ready.count { completeBatches(flow.delivered(before - ready.count)) }
    }

    /// Publishers' batches parked by flow control, now complete.
    func completeBatches(_ sessions: [Session]) {
        for session in sessions { session.batchCompleted() }
    }

    /// A batch added `messages` while the queue was in flow: it completes once as many were
    /// delivered.
    func park(_ session: Session, messages: Int) {
        flow.park(session, messages: messages)
    }

    private func drainRoundRobin(now: UInt64) {
        nextConsumer = deliverRoundRobin(to: consumers.indices, from: nextConsumer, now: now)
    }

    /// Delivers to `consumers[range]` in turn, starting at `cursor` (an offset in the range),
    /// while any of them can take a message; returns where the next turn starts.
    private func deliverRoundRobin(to range: Range<Int>, from cursor: Int, now: UInt64) -> Int {
        var cursor = cursor
        var refusals = 0
        while !ready.isEmpty && refusals < range.count {
            if cursor >= range.count { cursor = 0 }
            let consumer = consumers[range.lowerBound + cursor]
            cursor += 1
            guard consumer.canReceive else {
                refusals += 1
                continue
            }
            refusals = 0
            guard let m = takeForDelivery(now: now) else { break }
            consumer.deliver(m, from: self)
        }
        return cursor
    }

    /// The head message for a consumer (a quorum queue checks it out). A message behind a
    /// longer-lived one may have expired by the time it is first, so expiry is checked again.
    private func takeForDelivery(now: UInt64) -> QueuedMessage? {
        if now != 0 { dropExpired(now: now) }
        return type == .quorum ? apply(.checkout).message : takeHead()
    }

    /// Single active consumer: only the first consumer receives.
    private func drainToActiveConsumer(now: UInt64) {
        if !handingOver.isEmpty {
            handingOver.removeAll { !$0.hasUnsettledDeliveries }
            if !handingOver.isEmpty { return }
        }
        guard let consumer = consumers.first else { return }
        while !ready.isEmpty && consumer.canReceive {
            guard let m = takeForDelivery(now: now) else { break }
            consumer.deliver(m, from: self)
        }
    }

    /// Consumer priorities: the consumers of the highest priority get messages round-robin
    /// while any of them can take one; a lower priority gets messages only when every higher
    /// one is blocked (prefetch full, flow), as in RabbitMQ.
    private func drainByConsumerPriority(now: UInt64) {
        var start = 0
        while start < consumers.count && !ready.isEmpty {
            let priority = consumers[start].priority
            var end = start + 1
            while end < consumers.count && consumers[end].priority == priority { end += 1 }
            nextConsumerByPriority[priority] = deliverRoundRobin(
                to: start..<end, from: nextConsumerByPriority[priority] ?? 0, now: now)
            start = end
        }
    }

    /// The queue is deleted: its consumers are returned to be told, its storage removed.
    func markDeleted() -> [QueueConsumer] {
        isDeleted = true
        if flow.hasParked { completeBatches(flow.releaseAll()) }
        let gone = consumers
        consumers.removeAll()
        handingOver.removeAll()
        ready.removeAll()
        quorum.returnsAhead = 0
        readyBytes = 0
        residentBytes = 0
        if let storage {
            storage.messages.destroyQueueStore(storage.queue, named: name)
            self.storage = nil
        }
        stream?.destroy()
        stream = nil
        return gone
    }
}
