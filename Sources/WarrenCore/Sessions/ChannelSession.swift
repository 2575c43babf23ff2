import AMQPProtocol
import DequeModule

/// One AMQP channel of a session: its consumers, unacknowledged deliveries, prefetch windows,
/// publisher confirms and transaction. Lives on the vhost's event loop.
final class ChannelSession {
    let number: UInt16
    unowned let session: Session
    var isOpen = true

    private var vhost: VirtualHost { session.vhost }

    // Consuming
    private var consumers: [String: ChannelConsumer] = [:]
    private var unacked = UnackedDeliveries()
    private var nextDeliveryTag: UInt64 = 1
    /// Unacked deliveries made to consumers (what a global prefetch limits).
    private var consumerUnacked = 0
    /// basic.qos global=false: the limit each new consumer gets.
    private var consumerPrefetch: UInt16 = 0
    /// basic.qos global=true: the limit shared by all consumers of the channel.
    private var channelPrefetch: UInt16 = 0

    // Direct reply-to: the pseudo-consumer of `amq.rabbitmq.reply-to`, and this channel's key.
    private var replyConsumerTag: String?
    private var replyKey: String?

    // Publishing
    private var confirmMode = false
    private var nextPublishSequence: UInt64 = 1
    private var confirmedUpTo: UInt64 = 0
    private var confirmSent: UInt64 = 0
    /// Confirms waiting for the store to sync the batch they were written in, in publish order.
    private var awaitingSync = Deque<(sequence: UInt64, batch: UInt64, ack: Bool)>()
    /// A tx.commit-ok held until the batch of its persistent messages is synced.
    private var commitOkAwaitingBatch: UInt64?
    var isWaitingForSync = false
    private var routeScratch: [MessageQueue] = []

    // Transactions
    private enum TxAction {
        case ack([UnackedDelivery])
        case reject([UnackedDelivery], requeue: Bool)
    }
    private var txMode = false
    private var txPublishes: [(message: Message, exchange: Exchange, mandatory: Bool)] = []
    private var txActions: [TxAction] = []

    // The last exchange this channel was allowed to publish to, under which access rules.
    private var publishAllowedExchange: String?
    private var publishAllowedGeneration: UInt64 = 0

    init(number: UInt16, session: Session) {
        self.number = number
        self.session = session
    }

    var canDeliver: Bool { isOpen && session.writable }
    var withinChannelPrefetch: Bool { channelPrefetch == 0 || consumerUnacked < Int(channelPrefetch) }

    /// Checks the user's permissions for an operation (RabbitMQ's access-control table).
    private func authorize(_ operation: ResourceOperation) throws(BrokerError) {
        guard let access = vhost.access else { return }
        try access.authorize(operation, user: session.user, vhost: vhost.name)
    }

    /// Topic permissions: the routing key of a publish (write) or the key of a binding (read)
    /// to a topic exchange must match the user's topic pattern for it, if there is one.
    private func authorizeTopic(_ kind: AccessKind, exchange: String, routingKey: String) throws(BrokerError) {
        guard let access = vhost.access, vhost.exchanges[exchange]?.kind == .topic else { return }
        try access.checkTopic(kind, routingKey: routingKey, exchange: exchange, user: session.user, vhost: vhost.name)
    }

    private func reply(_ method: AMQPMethod) {
        session.emit(.method(channel: number, method))
    }

    // MARK: Methods

    func handle(_ method: AMQPMethod) throws(BrokerError) {
        switch method {
        case .channelFlow(let m):
            // RabbitMQ no longer lets clients pause deliveries this way (basic.qos does it).
            guard m.active else { throw .notImplemented("active=false") }
            reply(.channelFlowOk(ChannelFlowOk(active: true)))

        case .exchangeDeclare(let m):
            try authorize(
                .exchangeDeclare(
                    exchange: m.exchange, passive: m.passive,
                    alternateExchange: m.arguments["alternate-exchange"]?.stringValue))
            try vhost.declareExchange(
                name: m.exchange, type: m.type, passive: m.passive, durable: m.durable, autoDelete: m.autoDelete,
                isInternal: m.internal, arguments: m.arguments)
            if !m.noWait { reply(.exchangeDeclareOk(ExchangeDeclareOk())) }
        case .exchangeDelete(let m):
            try authorize(.exchangeDelete(exchange: m.exchange))
            try vhost.deleteExchange(name: m.exchange, ifUnused: m.ifUnused)
            if !m.noWait { reply(.exchangeDeleteOk(ExchangeDeleteOk())) }
        case .exchangeBind(let m):
            try authorize(.exchangeBind(destination: m.destination, source: m.source))
            try vhost.bind(
                destination: m.destination, source: m.source, routingKey: m.routingKey, arguments: m.arguments)
            if !m.noWait { reply(.exchangeBindOk(ExchangeBindOk())) }
        case .exchangeUnbind(let m):
            try authorize(.exchangeUnbind(destination: m.destination, source: m.source))
            try vhost.unbind(
                destination: m.destination, source: m.source, routingKey: m.routingKey, arguments: m.arguments)
            if !m.noWait { reply(.exchangeUnbindOk(ExchangeUnbindOk())) }

        case .queueDeclare(let m) where m.queue == VirtualHost.directReplyQueue:
            // The direct reply-to pseudo-queue always exists and is always empty.
            if !m.noWait { reply(.queueDeclareOk(QueueDeclareOk(queue: m.queue, messageCount: 0, consumerCount: 1))) }
        case .queueDeclare(let m):
            // Server-named queues are named first, so permissions apply to the real name.
            let serverNamed = m.queue.isEmpty && !m.passive
            let name = serverNamed ? NameGenerator.queueName() : m.queue
            try authorize(
                .queueDeclare(
                    queue: name, passive: m.passive,
                    deadLetterExchange: m.arguments["x-dead-letter-exchange"]?.stringValue))
            let q = try vhost.declareQueue(
                name: name, passive: m.passive, durable: m.durable, exclusive: m.exclusive,
                autoDelete: m.autoDelete, arguments: m.arguments, sessionID: session.id, serverNamed: serverNamed)
            if !m.noWait {
                // RabbitMQ counts neither messages nor consumers of a stream here.
                reply(
                    .queueDeclareOk(
                        QueueDeclareOk(
                            queue: q.name, messageCount: UInt32(q.messageCount),
                            consumerCount: q.stream == nil ? UInt32(q.consumerCount) : 0)))
            }
        case .queueBind(let m):
            try authorize(.queueBind(queue: m.queue, exchange: m.exchange))
            try authorizeTopic(.read, exchange: m.exchange, routingKey: m.routingKey)
            try vhost.bind(
                queue: m.queue, exchange: m.exchange, routingKey: m.routingKey, arguments: m.arguments,
                sessionID: session.id)
            if !m.noWait { reply(.queueBindOk(QueueBindOk())) }
        case .queueUnbind(let m):
            try authorize(.queueUnbind(queue: m.queue, exchange: m.exchange))
            try authorizeTopic(.read, exchange: m.exchange, routingKey: m.routingKey)
            try vhost.unbind(
                queue: m.queue, exchange: m.exchange, routingKey: m.routingKey, arguments: m.arguments,
                sessionID: session.id)
            reply(.queueUnbindOk(QueueUnbindOk()))
        case .queuePurge(let m):
            try authorize(.queuePurge(queue: m.queue))
            let q = try vhost.queue(named: m.queue, for: session.id)
            if q.stream != nil { throw q.streamRefuses("queue.purge") }
            let n = q.purge()
            if !m.noWait { reply(.queuePurgeOk(QueuePurgeOk(messageCount: UInt32(n)))) }
        case .queueDelete(let m):
            try authorize(.queueDelete(queue: m.queue))
            var count = 0
            if vhost.queues[m.queue] != nil {
                let q = try vhost.queue(named: m.queue, for: session.id)
                if m.ifUnused && q.consumerCount > 0 {
                    throw .preconditionFailed("queue '\(m.queue)' in vhost '\(vhost.name)' in use")
                }
                if m.ifEmpty && q.messageCount > 0 {
                    throw .preconditionFailed("queue '\(m.queue)' in vhost '\(vhost.name)' not empty")
                }
                count = vhost.deleteQueue(q)
            }
            if !m.noWait { reply(.queueDeleteOk(QueueDeleteOk(messageCount: UInt32(count)))) }

        case .basicQos(let m):
            if m.prefetchSize != 0 { throw .notImplemented("prefetch_size!=0 (\(m.prefetchSize))") }
            if m.global {
                channelPrefetch = m.prefetchCount
            } else {
                // As in RabbitMQ, a per-consumer limit lifts the channel-wide one.
                consumerPrefetch = m.prefetchCount
                channelPrefetch = 0
            }
            resumeDeliveries()
            reply(.basicQosOk(BasicQosOk()))
        case .basicConsume(let m):
            try consume(m)
        case .basicCancel(let m):
            cancel(tag: m.consumerTag)
            if !m.noWait { reply(.basicCancelOk(BasicCancelOk(consumerTag: m.consumerTag))) }
        case .basicGet(let m):
            try get(m)
        case .basicAck(let m):
            try settle(tag: m.deliveryTag, multiple: m.multiple, action: .ack)
        case .basicNack(let m):
            try settle(tag: m.deliveryTag, multiple: m.multiple, action: .reject(requeue: m.requeue))
        case .basicReject(let m):
            try settle(tag: m.deliveryTag, multiple: false, action: .reject(requeue: m.requeue))
        case .basicRecover(let m):
            try recover(requeue: m.requeue)
            reply(.basicRecoverOk(BasicRecoverOk()))
        case .basicRecoverAsync(let m):
            try recover(requeue: m.requeue)

        case .confirmSelect(let m):
            if txMode { throw .preconditionFailed("cannot switch from tx to confirm mode") }
            confirmMode = true
            if !m.noWait { reply(.confirmSelectOk(ConfirmSelectOk())) }
        case .txSelect:
            if confirmMode { throw .preconditionFailed("cannot switch from confirm to tx mode") }
            txMode = true
            reply(.txSelectOk(TxSelectOk()))
        case .txCommit:
            guard txMode else { throw .preconditionFailed("channel is not transactional") }
            let batch = try commit()
            if batch != 0 {
                // commit-ok means the messages are on disk.
                commitOkAwaitingBatch = batch
                waitForSync()
            } else {
                reply(.txCommitOk(TxCommitOk()))
            }
        case .txRollback:
            guard txMode else { throw .preconditionFailed("channel is not transactional") }
            rollback()
            reply(.txRollbackOk(TxRollbackOk()))

        default:
            throw .commandInvalid("method \(method.name) is not allowed from a client on a channel")
        }
    }

    // MARK: Publishing

    func publish(_ message: Message, mandatory: Bool, immediate: Bool) throws(BrokerError) {
        if immediate { throw .notImplemented("immediate=true") }
        if publishAllowedGeneration != vhost.accessGeneration || publishAllowedExchange != message.exchange {
            try authorize(.basicPublish(exchange: message.exchange))
            publishAllowedExchange = message.exchange
            publishAllowedGeneration = vhost.accessGeneration
        }
        let exchange = try vhost.exchange(named: message.exchange)
        if exchange.kind == .topic {
            try authorizeTopic(.write, exchange: exchange.name, routingKey: message.routingKey)
        }
        if exchange.isInternal {
            throw .accessRefused("cannot publish to internal exchange '\(exchange.name)' in vhost '\(vhost.name)'")
        }
        var message = message
        let properties = message.properties
        // Compared in place: publishes carry no allocation for these checks.
        if !properties.userIDEquals(session.user), let userID = properties.userID {
            throw .preconditionFailed(
                "user_id property set to '\(userID)' but authenticated user was '\(session.user)'")
        }
        if properties.replyToEquals(VirtualHost.directReplyQueue) {
            guard let key = replyKey else { throw .preconditionFailed("fast reply consumer does not exist") }
            message = try Self.withReplyTo(message, VirtualHost.directReplyPrefix + key)
        }
        if txMode {
            txPublishes.append((message, exchange, mandatory))
            return
        }
        let outcome = route(message, via: exchange, mandatory: mandatory)
        if confirmMode { confirm(accepted: !outcome.refused, batch: batchToSync(outcome)) }
    }

    private static func withReplyTo(_ message: Message, _ replyTo: String) throws(BrokerError) -> Message {
        guard var decoded = try? message.properties.decode() else {
            throw .preconditionFailed("malformed message properties")
        }
        decoded.replyTo = replyTo
        return Message(
            exchange: message.exchange, routingKey: message.routingKey, properties: RawProperties(decoded),
            body: message.body)
    }

    /// Routes and enqueues: whether a queue refused the message (x-overflow reject-publish)
    /// and whether it was written to a store.
    @discardableResult
    private func route(_ message: Message, via exchange: Exchange, mandatory: Bool) -> RouteOutcome {
        if exchange.name.isEmpty, message.routingKey.hasPrefix(VirtualHost.directReplyPrefix) {
            let key = String(message.routingKey.dropFirst(VirtualHost.directReplyPrefix.count))
            if let channel = vhost.directReplyChannels[key] {
                channel.deliverDirectReply(message)
            } else if mandatory {
                session.emit(
                    .returned(channel: number, replyCode: ReplyCode.noRoute, replyText: "NO_ROUTE", message: message))
            }
            return .accepted
        }
        routeScratch.removeAll(keepingCapacity: true)
        vhost.route(message, via: exchange, into: &routeScratch)
        if routeScratch.isEmpty {
            if mandatory {
                session.emit(
                    .returned(channel: number, replyCode: ReplyCode.noRoute, replyText: "NO_ROUTE", message: message))
            }
            return .accepted
        }
        var outcome = RouteOutcome.accepted
        for q in routeScratch {
            switch q.enqueue(message) {
            case .refused: outcome.refused = true
            case .persisted: outcome.persisted = true
            case .queued: break
            }
        }
        return outcome
    }

    struct RouteOutcome {
        var refused = false
        var persisted = false
        static let accepted = RouteOutcome()
    }

    /// The store batch that must be synced before this channel may confirm what it just wrote.
    private func batchToSync(_ outcome: RouteOutcome) -> UInt64 {
        guard outcome.persisted, let store = vhost.store else { return 0 }
        return store.currentBatch
    }

    private func confirm(accepted: Bool, batch: UInt64) {
        let sequence = nextPublishSequence
        nextPublishSequence += 1
        if batch != 0 || !awaitingSync.isEmpty {
            // Persistent: confirmed once its batch is on disk; later confirms queue behind it.
            awaitingSync.append((sequence, batch, accepted))
            waitForSync()
            return
        }
        settleConfirm(sequence, accepted: accepted)
    }

    private func waitForSync() {
        guard !isWaitingForSync else { return }
        isWaitingForSync = true
        vhost.channelsWaitingForSync.append(self)
    }

    /// The store has synced every batch up to `batch`: release what waited for it. Returns
    /// true while something still waits.
    func storeSynced(through batch: UInt64) -> Bool {
        while let first = awaitingSync.first, first.batch <= batch {
            awaitingSync.removeFirst()
            settleConfirm(first.sequence, accepted: first.ack)
        }
        if let needed = commitOkAwaitingBatch, needed <= batch {
            commitOkAwaitingBatch = nil
            reply(.txCommitOk(TxCommitOk()))
        }
        isWaitingForSync = !awaitingSync.isEmpty || commitOkAwaitingBatch != nil
        return isWaitingForSync
    }

    private func settleConfirm(_ sequence: UInt64, accepted: Bool) {
        guard accepted else {
            // Acks before it go out first so the client sees confirms in order.
            flushConfirms(emitting: true)
            reply(.basicNack(BasicNack(deliveryTag: sequence, multiple: false, requeue: false)))
            confirmedUpTo = sequence
            confirmSent = sequence
            return
        }
        if confirmedUpTo == confirmSent { session.channelsWithConfirms.append(self) }
        confirmedUpTo = sequence
        session.requestFlush()
    }

    /// Sends one basic.ack covering every publish confirmed since the last one.
    func flushConfirms(emitting: Bool = false) {
        guard confirmedUpTo > confirmSent else { return }
        let multiple = confirmedUpTo - confirmSent > 1
        let ack = SessionOutput.method(
            channel: number, .basicAck(BasicAck(deliveryTag: confirmedUpTo, multiple: multiple)))
        if emitting { session.emit(ack) } else { session.appendDuringFlush(ack) }
        confirmSent = confirmedUpTo
    }

    // MARK: Consuming

    private func consume(_ m: BasicConsume) throws(BrokerError) {
        let tag = m.consumerTag.isEmpty ? NameGenerator.consumerTag() : m.consumerTag
        if consumers[tag] != nil || replyConsumerTag == tag {
            throw .notAllowed("attempt to reuse consumer tag '\(tag)'")
        }
        if m.queue == VirtualHost.directReplyQueue {
            guard m.noAck else { throw .preconditionFailed("reply consumer cannot acknowledge") }
            guard replyConsumerTag == nil else { throw .preconditionFailed("reply consumer already set") }
            let key = NameGenerator.random(prefix: "", length: 24)
            replyConsumerTag = tag
            replyKey = key
            vhost.directReplyChannels[key] = self
            if !m.noWait { reply(.basicConsumeOk(BasicConsumeOk(consumerTag: tag))) }
            return
        }
        try authorize(.basicConsume(queue: m.queue))
        let q = try vhost.queue(named: m.queue, for: session.id)
        // A mirrored-queue-era argument: no effect on a classic queue, refused by a quorum one.
        if q.type == .quorum, m.arguments["x-cancel-on-ha-failover"] != nil {
            throw .preconditionFailed(
                "invalid arg 'x-cancel-on-ha-failover' for queue '\(q.name)' in vhost '\(vhost.name)' "
                    + "of queue type rabbit_quorum_queue")
        }
        q.touch()
        // A single-active-consumer queue refuses exclusive consumers, as RabbitMQ does.
        if q.exclusiveConsumer != nil || (m.exclusive && (q.consumerCount > 0 || q.isSingleActiveConsumer)) {
            throw .accessRefused("queue '\(q.name)' in vhost '\(vhost.name)' in exclusive use")
        }
        let priority = try QueueArguments.consumerPriority(m.arguments, queue: q.name, vhost: vhost.name)
        var streamOffset: StreamArguments.Offset?
        if let stream = q.stream {
            try StreamArguments.checkConsumer(
                queue: q.name, vhost: vhost.name, noAck: m.noAck, prefetch: consumerPrefetch,
                channelPrefetch: channelPrefetch)
            streamOffset = try StreamArguments.offset(m.arguments, now: stream.clock())
        }
        let consumer = ChannelConsumer(
            tag: tag, queue: q, noAck: m.noAck, exclusive: m.exclusive, prefetch: consumerPrefetch,
            priority: priority, arguments: m.arguments, channel: self)
        consumers[tag] = consumer
        if !m.noWait { reply(.basicConsumeOk(BasicConsumeOk(consumerTag: tag))) }
        if let streamOffset { q.stream?.attach(consumer, at: streamOffset) }
        q.addConsumer(consumer)
    }

    private func cancel(tag: String) {
        if tag == replyConsumerTag {
            endDirectReply()
            return
        }
        guard let consumer = consumers.removeValue(forKey: tag) else { return }
        consumer.queue.removeConsumer(consumer)
        vhost.consumerRemoved(from: consumer.queue)
    }

    private func endDirectReply() {
        if let key = replyKey { vhost.directReplyChannels[key] = nil }
        replyKey = nil
        replyConsumerTag = nil
    }

    /// The consumer's queue was deleted: tell the client if it asked to be told.
    func consumerLostQueue(_ consumer: ChannelConsumer) {
        guard consumers[consumer.consumerTag] === consumer else { return }
        consumers[consumer.consumerTag] = nil
        if session.capabilities.consumerCancelNotify {
            reply(.basicCancel(BasicCancel(consumerTag: consumer.consumerTag, noWait: true)))
        }
    }

    private func get(_ m: BasicGet) throws(BrokerError) {
        try authorize(.basicGet(queue: m.queue))
        let q = try vhost.queue(named: m.queue, for: session.id)
        if q.stream != nil { throw q.streamRefuses("basic.get") }
        q.touch()
        guard let qm = q.dequeue() else {
            reply(.basicGetEmpty(BasicGetEmpty()))
            return
        }
        let tag = nextDeliveryTag
        nextDeliveryTag += 1
        if m.noAck {
            q.settle(qm)
        } else {
            unacked.append(UnackedDelivery(deliveryTag: tag, queue: q, message: qm, consumer: nil))
            q.unacknowledged += 1
        }
        session.emit(
            .getOk(
                channel: number, deliveryTag: tag, redelivered: qm.redelivered, messageCount: UInt32(q.messageCount),
                message: q.outgoing(qm, get: true)))
    }

    func deliver(_ qm: QueuedMessage, from queue: MessageQueue, to consumer: ChannelConsumer) {
        let tag = nextDeliveryTag
        nextDeliveryTag += 1
        if consumer.noAck {
            queue.settle(qm)
        } else {
            unacked.append(UnackedDelivery(deliveryTag: tag, queue: queue, message: qm, consumer: consumer))
            queue.unacknowledged += 1
            consumer.unacked += 1
            consumerUnacked += 1
        }
        session.emit(
            .deliver(
                channel: number, consumerTag: consumer.consumerTag, deliveryTag: tag, redelivered: qm.redelivered,
                message: queue.outgoing(qm, get: false)))
    }

    func deliverDirectReply(_ message: Message) {
        guard let tag = replyConsumerTag else { return }
        let deliveryTag = nextDeliveryTag
        nextDeliveryTag += 1
        session.emit(
            .deliver(channel: number, consumerTag: tag, deliveryTag: deliveryTag, redelivered: false, message: message))
    }

    /// Lets this channel's consumers' queues deliver again (after flow, qos or writability changes).
    func resumeDeliveries() {
        for consumer in consumers.values { consumer.queue.scheduleDrain() }
    }

    // MARK: Acknowledgements

    private enum Settlement {
        case ack
        case reject(requeue: Bool)
    }

    private func settle(tag: UInt64, multiple: Bool, action: Settlement) throws(BrokerError) {
        guard let deliveries = unacked.take(tag: tag, multiple: multiple) else {
            throw .preconditionFailed("unknown delivery tag \(tag)")
        }
        if case .reject = action, let d = deliveries.first(where: { $0.queue.stream != nil }) {
            throw d.queue.streamRefuses("basic.nack and basic.reject")
        }
        if txMode {
            switch action {
            case .ack: txActions.append(.ack(deliveries))
            case .reject(let requeue): txActions.append(.reject(deliveries, requeue: requeue))
            }
            return
        }
        switch action {
        case .ack: release(deliveries, requeue: false)
        case .reject(let requeue): release(deliveries, requeue: requeue, rejected: true)
        }
    }

    /// Ends deliveries: frees their prefetch slots and requeues them or lets them go (rejected
    /// ones are dead-lettered where their queue says so). `closing` when the channel goes.
    private func release(
        _ deliveries: [UnackedDelivery], requeue: Bool, rejected: Bool = false, closing: Bool = false
    ) {
        guard !deliveries.isEmpty else { return }
        for d in deliveries {
            if let consumer = d.consumer {
                consumer.unacked -= 1
                consumerUnacked -= 1
                consumer.queue.scheduleDrain()
            }
            d.queue.unacknowledged -= 1
            if !requeue {
                if rejected { d.queue.reject(d.message) } else { d.queue.settle(d.message) }
            }
        }
        if requeue {
            // Group by queue, keeping delivery order; the queue restores original positions.
            var byQueue: [ObjectIdentifier: (MessageQueue, [QueuedMessage])] = [:]
            var order: [ObjectIdentifier] = []
            for d in deliveries {
                let id = ObjectIdentifier(d.queue)
                if byQueue[id] == nil {
                    byQueue[id] = (d.queue, [])
                    order.append(id)
                }
                byQueue[id]!.1.append(d.message)
            }
            for id in order {
                let (q, messages) = byQueue[id]!
                q.requeue(messages, consumerGone: closing)
            }
        }
        if channelPrefetch != 0 { resumeDeliveries() }
    }

    private func recover(requeue: Bool) throws(BrokerError) {
        guard requeue else { throw .notImplemented("requeue=false") }
        // RabbitMQ 3.10's channel fails on a recover of stream deliveries.
        if unacked.contains(where: { $0.queue.stream != nil }) { throw StreamArguments.internalError }
        release(unacked.takeAll(), requeue: true)
    }

    // MARK: Transactions

    /// Applies the transaction; returns the store batch to wait for (0 if none).
    private func commit() throws(BrokerError) -> UInt64 {
        let publishes = txPublishes
        txPublishes.removeAll()
        var persisted = RouteOutcome()
        for p in publishes where route(p.message, via: p.exchange, mandatory: p.mandatory).persisted {
            persisted.persisted = true
        }
        let actions = txActions
        txActions.removeAll()
        for action in actions {
            switch action {
            case .ack(let d): release(d, requeue: false)
            case .reject(let d, let requeue): release(d, requeue: requeue, rejected: true)
            }
        }
        return batchToSync(persisted)
    }

    private func rollback() {
        txPublishes.removeAll()
        for action in txActions {
            switch action {
            case .ack(let d): unacked.restore(d)
            case .reject(let d, _): unacked.restore(d)
            }
        }
        txActions.removeAll()
    }

    // MARK: Listing

    var summary: ChannelSummary {
        ChannelSummary(
            number: number, transactional: txMode, confirm: confirmMode, consumerCount: consumers.count,
            unacknowledged: unacked.count, prefetchCount: consumerPrefetch, globalPrefetchCount: channelPrefetch)
    }

    var consumerSummaries: [ConsumerSummary] {
        consumers.values.sorted { $0.consumerTag < $1.consumerTag }.map {
            ConsumerSummary(
                queue: $0.queue.name, channel: number, consumerTag: $0.consumerTag, ackRequired: !$0.noAck,
                prefetchCount: $0.prefetch, exclusive: $0.isExclusive, active: $0.queue.isActive($0),
                activityStatus: $0.queue.isSingleActiveConsumer
                    ? ($0.queue.isActive($0) ? "single_active" : "waiting") : "up",
                arguments: $0.arguments)
        }
    }

    // MARK: Closing

    /// Releases everything the channel holds: consumers leave their queues, unacked deliveries
    /// go back to their queues in order.
    func teardown() {
        isOpen = false
        endDirectReply()
        let all = consumers.values
        consumers.removeAll()
        for consumer in all {
            consumer.queue.removeConsumer(consumer)
        }
        txPublishes.removeAll()
        rollback()
        release(unacked.takeAll(), requeue: true, closing: true)
        for consumer in all { vhost.consumerRemoved(from: consumer.queue) }
    }
}
