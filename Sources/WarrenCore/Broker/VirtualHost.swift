import AMQPProtocol
import HeapModule
import Logging

/// A virtual host: an isolated namespace of exchanges, queues and bindings.
///
/// Every method must be called on the vhost's event loop (the server layer guarantees this);
/// the vhost itself knows no threads, so it is tested directly. Work triggered by a batch of
/// commands (deliveries, flushes to connections) is collected and done once in `endOfBatch()`.
public final class VirtualHost: @unchecked Sendable {
    public let name: String
    public var logger = Logger(label: "warren.vhost")
    public private(set) var exchanges: [String: Exchange] = [:]
    public internal(set) var queues: [String: MessageQueue] = [:]
    /// Channels consuming from `amq.rabbitmq.reply-to`, by the key in their reply address.
    var directReplyChannels: [String: ChannelSession] = [:]
    public private(set) var sessions: [UInt64: Session] = [:]
    /// Who may do what here; replaced on this loop whenever users or permissions change. Nil
    /// allows everything (tests without users).
    public var access: AccessControl? {
        didSet { accessGeneration &+= 1 }
    }
    /// Changes with every new `access`, so channels can cache what they were allowed.
    var accessGeneration: UInt64 = 0
    /// The policies and operator policies of this vhost; set with `setPolicies`.
    public private(set) var policies = VhostPolicies()
    /// Persistent storage; nil for a broker without a data directory (tests).
    public private(set) var store: MessageStore?
    var channelsWaitingForSync: [ChannelSession] = []
    private var endingBatch = false
    private var recovering = false

    private var queuesToDrain: [MessageQueue] = []
    private var spareDrainList: [MessageQueue] = []
    private var sessionsToFlush: [Session] = []
    private var spareFlushList: [Session] = []
    private var routeScratch: [Destination] = []
    private var routeEpoch: UInt64 = 0
    /// Deadlines of queues with TTLs or an expiry, earliest first: `tick` visits only the queues
    /// whose deadline has come, so idle queues cost nothing.
    private var timers = Heap<TimerEntry>()
    /// Queues the timer has visited (for tests: idle queues must not be visited).
    private(set) var timerVisits = 0
    /// Queues with a backlog and consumers, looked at every tick for flow control.
    private var flowWatched: [MessageQueue] = []
    /// The first queue in flow that the current batch published to, and how many messages the
    /// batch put into queues in flow.
    private var flowBatchQueue: MessageQueue?
    private var flowBatchMessages = 0
    /// True while a session routes a client's basic.publish: only those messages count for flow
    /// control (not dead-lettered ones, whose batch may be a consumer's acks).
    var publishing = false

    public static let directReplyQueue = "amq.rabbitmq.reply-to"
    static let directReplyPrefix = "amq.rabbitmq.reply-to."

    public init(name: String) {
        self.name = name
        exchanges[""] = DefaultExchange(vhost: self)
        for (name, kind) in [
            ("amq.direct", ExchangeKind.direct), ("amq.fanout", .fanout), ("amq.topic", .topic),
            ("amq.headers", .headers), ("amq.match", .headers),
        ] {
            exchanges[name] = Exchange.make(
                name: name, kind: kind, durable: true, autoDelete: false, isInternal: false, arguments: [:])
        }
    }

    deinit {
        // A queue someone still holds must not reach a vhost that is gone.
        for q in queues.values { q.vhost = nil }
    }

    // MARK: Storage

    /// Attaches persistent storage and recreates the durable exchanges, queues (with their
    /// messages) and bindings it holds. Call once, before any session.
    public func attach(_ store: MessageStore) throws(StorageError) {
        self.store = store
        store.onSynced = { [unowned self] batch in self.storeSynced(through: batch) }
        recovering = true
        defer { recovering = false }
        var queueNames = Set<String>()
        var restored = 0
        for record in store.recoveredTopology {
            switch record.op {
            case .declareExchange:
                guard let name = record.name, let kind = record.type.flatMap(ExchangeKind.init(rawValue:)),
                    exchanges[name] == nil
                else { continue }
                let e = Exchange.make(
                    name: name, kind: kind, durable: true, autoDelete: record.autoDelete ?? false,
                    isInternal: record.internal ?? false, arguments: record.decodedArguments())
                applyPolicies(to: e)
                exchanges[name] = e
            case .declareQueue:
                guard let name = record.name else { continue }
                let arguments = record.decodedArguments()
                if StreamArguments.isStream(arguments) {
                    let q = try recoverStream(named: name, arguments: arguments, from: store)
                    restored += q.stream?.messageCount ?? 0
                    queueNames.insert(name)
                    continue
                }
                let q = MessageQueue(
                    name: name, durable: true, autoDelete: record.autoDelete ?? false, exclusiveOwner: nil,
                    arguments: arguments,
                    limits: (try? QueueLimits(arguments: arguments, queue: name, vhost: self.name)) ?? QueueLimits())
                q.vhost = self
                applyPolicies(to: q)
                let recovery = try store.recoverQueueStore(named: name, readPriorities: q.maxPriority != nil)
                q.storage = (store, recovery.store)
                q.restore(
                    recovery.messages, bodySizes: recovery.bodySizes, deliveryCounts: recovery.deliveryCounts,
                    priorities: recovery.priorities)
                restored += recovery.messages.count
                queues[name] = q
                queueNames.insert(name)
                q.rescheduleTimer()
            case .bind:
                guard let source = record.source.flatMap({ exchanges[$0] }), let dest = record.destination else {
                    continue
                }
                let destination: Destination
                if record.destinationType == "exchange" {
                    guard let e = exchanges[dest] else { continue }
                    destination = .exchange(e)
                } else {
                    guard let q = queues[dest] else { continue }
                    destination = .queue(q)
                }
                source.bind(
                    Binding(
                        destination: destination, routingKey: record.routingKey ?? "",
                        arguments: record.decodedArguments()))
            default:
                continue
            }
        }
        store.removeOrphanedQueueDirectories(keeping: queueNames)
        logger.info(
            "vhost '\(name)' recovered \(exchanges.count) exchanges, \(queueNames.count) durable queues, \(restored) messages"
        )
    }

    /// The vhost is being deleted: every queue and its stored messages go, and the storage
    /// directory with them.
    public func removeEverything() {
        for q in Array(queues.values) { deleteQueue(q) }
        for e in exchanges.values { e.removeAllBindings() }
        store?.destroy()
        store = nil
    }

    private func record(_ change: @autoclosure () -> TopologyRecord) {
        guard !recovering, let store else { return }
        store.record(change())
    }

    /// A binding is stored when both ends are durable, as in RabbitMQ.
    private func isDurable(_ destination: Destination) -> Bool {
        switch destination {
        case .queue(let q): return q.isStored
        case .exchange(let e): return e.durable
        }
    }

    private func storeSynced(through batch: UInt64) {
        let waiting = channelsWaitingForSync
        channelsWaitingForSync.removeAll()
        for channel in waiting where channel.isOpen && channel.storeSynced(through: batch) {
            channelsWaitingForSync.append(channel)
        }
        if !endingBatch { endOfBatch() }
    }

    // MARK: Sessions

    /// Creates and registers a session (for callers already on the vhost's loop).
    public func openSession(id: UInt64, user: String, capabilities: ClientCapabilities) -> Session {
        let session = Session(id: id, vhost: self, user: user, capabilities: capabilities)
        register(session)
        return session
    }

    /// Registers a session created elsewhere; its first batch must follow this call.
    public func register(_ session: Session) {
        sessions[session.id] = session
    }

    func sessionClosed(_ session: Session) {
        sessions[session.id] = nil
        for q in queues.values where q.exclusiveOwner == session.id {
            deleteQueue(q)
        }
    }

    // MARK: Exchanges

    func exchangeNotFound(_ name: String) -> BrokerError {
        .notFound("no exchange '\(name)' in vhost '\(self.name)'")
    }

    public func exchange(named name: String) throws(BrokerError) -> Exchange {
        guard let e = exchanges[name] else { throw exchangeNotFound(name) }
        return e
    }

    @discardableResult
    public func declareExchange(
        name: String, type: String, passive: Bool, durable: Bool, autoDelete: Bool, isInternal: Bool,
        arguments: FieldTable
    ) throws(BrokerError) -> Exchange {
        if name.isEmpty { throw .accessRefused("operation not permitted on the default exchange") }
        if passive { return try exchange(named: name) }
        guard let kind = ExchangeKind(rawValue: type) else {
            throw .commandInvalid("unknown exchange type '\(type)'")
        }
        if let existing = exchanges[name] {
            func mismatch(_ arg: String, _ received: String, _ current: String) -> BrokerError {
                .preconditionFailed(
                    "inequivalent arg '\(arg)' for exchange '\(name)' in vhost '\(self.name)': "
                        + "received '\(received)' but current is '\(current)'")
            }
            if existing.kind != kind { throw mismatch("type", type, existing.kind.rawValue) }
            if existing.durable != durable { throw mismatch("durable", "\(durable)", "\(existing.durable)") }
            if existing.autoDelete != autoDelete {
                throw mismatch("auto_delete", "\(autoDelete)", "\(existing.autoDelete)")
            }
            if existing.isInternal != isInternal {
                throw mismatch("internal", "\(isInternal)", "\(existing.isInternal)")
            }
            let key = "alternate-exchange"
            if let current = existing.arguments[key], let received = arguments[key] {
                if current != received {
                    throw mismatch(key, QueueArguments.describe(received), QueueArguments.describe(current))
                }
            } else if existing.arguments[key] != nil || arguments[key] != nil {
                func describe(_ v: FieldValue?) -> String {
                    guard let v else { return "none" }
                    return "the value '\(QueueArguments.describe(v))' of type '\(v.rabbitTypeName)'"
                }
                throw .preconditionFailed(
                    "inequivalent arg '\(key)' for exchange '\(name)' in vhost '\(self.name)': "
                        + "received \(describe(arguments[key])) but current is \(describe(existing.arguments[key]))")
            }
            return existing
        }
        if name.hasPrefix("amq.") {
            throw .accessRefused("exchange name '\(name)' contains reserved prefix 'amq.*'")
        }
        if let ae = arguments["alternate-exchange"], ae.stringValue == nil {
            throw .preconditionFailed(
                "invalid type '\(ae.rabbitTypeName)' for arg 'alternate-exchange' in exchange '\(name)' "
                    + "in vhost '\(self.name)'")
        }
        let e = Exchange.make(
            name: name, kind: kind, durable: durable, autoDelete: autoDelete, isInternal: isInternal,
            arguments: arguments)
        applyPolicies(to: e)
        exchanges[name] = e
        if durable { record(.exchange(e)) }
        return e
    }

    public func deleteExchange(name: String, ifUnused: Bool) throws(BrokerError) {
        if name.isEmpty { throw .accessRefused("operation not permitted on the default exchange") }
        if name.hasPrefix("amq.") {
            throw .accessRefused("deletion of system exchange '\(name)' in vhost '\(self.name)' not allowed")
        }
        guard let e = exchanges[name] else { return }
        if ifUnused && !e.bindings.isEmpty {
            throw .preconditionFailed("exchange '\(name)' in vhost '\(self.name)' in use")
        }
        removeExchange(e)
    }

    private func removeExchange(_ e: Exchange) {
        exchanges[e.name] = nil
        if e.durable { record(TopologyRecord(op: .deleteExchange, name: e.name)) }
        e.removeAllBindings()
        for other in exchanges.values where other.unbindAll(to: .exchange(e)) > 0 {
            deleteIfUnusedAutoDelete(other)
        }
    }

    private func deleteIfUnusedAutoDelete(_ e: Exchange) {
        if e.autoDelete && e.bindings.isEmpty && exchanges[e.name] === e { removeExchange(e) }
    }

    // MARK: Queues

    func queueNotFound(_ name: String) -> BrokerError {
        .notFound("no queue '\(name)' in vhost '\(self.name)'")
    }

    func lockedError(_ name: String) -> BrokerError {
        .resourceLocked(
            "cannot obtain exclusive access to locked queue '\(name)' in vhost '\(self.name)'. It could be "
                + "originally declared on another connection or the exclusive property value does not match "
                + "that of the original declaration.")
    }

    /// The queue, checked for use by `session` (exclusive queues belong to one connection).
    public func queue(named name: String, for sessionID: UInt64) throws(BrokerError) -> MessageQueue {
        guard let q = queues[name] else { throw queueNotFound(name) }
        if let owner = q.exclusiveOwner, owner != sessionID { throw lockedError(name) }
        return q
    }

    public func declareQueue(
        name requested: String, passive: Bool, durable: Bool, exclusive: Bool, autoDelete: Bool,
        arguments: FieldTable, sessionID: UInt64, serverNamed: Bool = false
    ) throws(BrokerError) -> MessageQueue {
        if passive {
            return try queue(named: requested, for: sessionID)
        }
        if requested.hasPrefix("amq.") && !serverNamed {
            throw .accessRefused("queue name '\(requested)' contains reserved prefix 'amq.*'")
        }
        let name = requested.isEmpty ? NameGenerator.queueName() : requested
        if queues[name] == nil && StreamArguments.isStream(arguments) {
            return try declareStream(
                name: name, durable: durable, exclusive: exclusive, autoDelete: autoDelete, arguments: arguments,
                serverNamed: serverNamed || requested.isEmpty)
        }
        if let existing = queues[name] {
            if let owner = existing.exclusiveOwner, owner != sessionID { throw lockedError(name) }
            if (existing.exclusiveOwner != nil) != exclusive { throw lockedError(name) }
            func mismatch(_ arg: String, _ received: String, _ current: String) -> BrokerError {
                .preconditionFailed(
                    "inequivalent arg '\(arg)' for queue '\(name)' in vhost '\(self.name)': "
                        + "received \(received) but current is \(current)")
            }
            if existing.durable != durable { throw mismatch("durable", "'\(durable)'", "'\(existing.durable)'") }
            if existing.autoDelete != autoDelete {
                throw mismatch("auto_delete", "'\(autoDelete)'", "'\(existing.autoDelete)'")
            }
            for key in QueueArguments.equivalenceKeys(of: existing.type)
            where !QueueArguments.equivalent(key, existing.arguments[key], arguments[key]) {
                let (received, current) = QueueArguments.describeMismatch(
                    received: arguments[key], current: existing.arguments[key])
                throw mismatch(key, received, current)
            }
            existing.touch()
            return existing
        }
        if try QueueType.of(arguments, queue: name, vhost: self.name) == .quorum {
            try QueueType.checkQuorumDeclaration(
                queue: name, vhost: self.name, serverNamed: serverNamed, durable: durable, exclusive: exclusive,
                autoDelete: autoDelete, arguments: arguments)
        }
        try QueueArguments.validateConsumptionArguments(arguments, queue: name, vhost: self.name)
        let q = MessageQueue(
            name: name, durable: durable, autoDelete: autoDelete, exclusiveOwner: exclusive ? sessionID : nil,
            arguments: arguments, limits: try QueueLimits(arguments: arguments, queue: name, vhost: self.name))
        q.vhost = self
        applyPolicies(to: q)
        // Exclusive queues die with their connection, so they are never stored.
        if durable && !exclusive, let store {
            do {
                q.storage = (store, try store.createQueueStore(named: name))
            } catch {
                logger.error("cannot create storage for queue '\(name)': \(error)")
                throw BrokerError(.channel, ReplyCode.internalError, "cannot create storage for queue '\(name)'")
            }
            record(.queue(q))
        }
        queues[name] = q
        q.rescheduleTimer()
        return q
    }

    /// Deletes a queue: its bindings go, its consumers are cancelled; returns the ready count.
    @discardableResult
    public func deleteQueue(_ q: MessageQueue) -> Int {
        guard queues[q.name] === q else { return 0 }
        queues[q.name] = nil
        if q.isStored { record(TopologyRecord(op: .deleteQueue, name: q.name)) }
        let count = q.messageCount
        for e in exchanges.values where e.unbindAll(to: .queue(q)) > 0 {
            deleteIfUnusedAutoDelete(e)
        }
        for consumer in q.markDeleted() { consumer.queueWasDeleted(q) }
        return count
    }

    /// Called when a consumer leaves a queue: auto-delete queues go with their last consumer.
    func consumerRemoved(from q: MessageQueue) {
        if q.autoDelete && q.hasHadConsumers && q.consumers.isEmpty { deleteQueue(q) }
    }

    // MARK: Bindings

    public func bind(
        queue queueName: String, exchange exchangeName: String, routingKey: String, arguments: FieldTable,
        sessionID: UInt64
    ) throws(BrokerError) {
        let q = try queue(named: queueName, for: sessionID)
        let e = try bindableExchange(exchangeName)
        try validateBindingArguments(e, arguments)
        let binding = Binding(destination: .queue(q), routingKey: routingKey, arguments: arguments)
        if e.bind(binding) && e.durable && isDurable(binding.destination) {
            record(.binding(.bind, source: e, binding))
        }
    }

    public func unbind(
        queue queueName: String, exchange exchangeName: String, routingKey: String, arguments: FieldTable,
        sessionID: UInt64
    ) throws(BrokerError) {
        // Unbinding what no longer exists succeeds, as in RabbitMQ.
        guard queues[queueName] != nil, exchanges[exchangeName] != nil || exchangeName.isEmpty else { return }
        let q = try queue(named: queueName, for: sessionID)
        let e = try bindableExchange(exchangeName)
        let binding = Binding(destination: .queue(q), routingKey: routingKey, arguments: arguments)
        if e.unbind(binding) {
            if e.durable && isDurable(binding.destination) { record(.binding(.unbind, source: e, binding)) }
            deleteIfUnusedAutoDelete(e)
        }
    }

    public func bind(
        destination: String, source: String, routingKey: String, arguments: FieldTable
    ) throws(BrokerError) {
        let d = try bindableExchange(destination)
        let s = try bindableExchange(source)
        try validateBindingArguments(s, arguments)
        let binding = Binding(destination: .exchange(d), routingKey: routingKey, arguments: arguments)
        if s.bind(binding) && s.durable && d.durable { record(.binding(.bind, source: s, binding)) }
    }

    public func unbind(
        destination: String, source: String, routingKey: String, arguments: FieldTable
    ) throws(BrokerError) {
        guard exchanges[destination] != nil, exchanges[source] != nil else { return }
        let d = try bindableExchange(destination)
        let s = try bindableExchange(source)
        let binding = Binding(destination: .exchange(d), routingKey: routingKey, arguments: arguments)
        if s.unbind(binding) {
            if s.durable && d.durable { record(.binding(.unbind, source: s, binding)) }
            deleteIfUnusedAutoDelete(s)
        }
    }

    private func bindableExchange(_ name: String) throws(BrokerError) -> Exchange {
        if name.isEmpty { throw .accessRefused("operation not permitted on the default exchange") }
        return try exchange(named: name)
    }

    private func validateBindingArguments(_ e: Exchange, _ arguments: FieldTable) throws(BrokerError) {
        if e.kind == .headers, HeadersExchange.matchKind(arguments) == nil {
            let given = arguments["x-match"]?.stringValue ?? "?"
            throw .preconditionFailed(
                "Invalid x-match field value '\(given)'; expected all, any, all-with-x, or any-with-x")
        }
    }

    // MARK: Routing

    /// The queues a message published to `exchange` reaches, each once, following
    /// exchange-to-exchange bindings and, for an exchange that routes the message nowhere, its
    /// alternate exchange (as RabbitMQ: each exchange is visited at most once).
    public func route(_ message: Message, via exchange: Exchange, into queues: inout [MessageQueue]) {
        route(message, routingKeys: nil, via: exchange, into: &queues)
    }

    /// `route` with the routing keys given (a dead-lettered message keeps every key it was
    /// published with: its routing key and the CC/BCC headers'); nil for the message's own.
    func route(
        _ message: Message, routingKeys: [String]?, via exchange: Exchange, into queues: inout [MessageQueue]
    ) {
        routeScratch.removeAll(keepingCapacity: true)
        routeEpoch &+= 1
        routeOne(exchange, message, routingKeys)
        // Each queue is marked with the route it was last added to: dedup in O(1) per queue.
        var visited: [ObjectIdentifier] = []
        var i = 0
        while i < routeScratch.count {
            switch routeScratch[i] {
            case .queue(let q):
                if q.routeMark != routeEpoch {
                    q.routeMark = routeEpoch
                    queues.append(q)
                }
            case .exchange(let e):
                let id = ObjectIdentifier(e)
                if e !== exchange && !visited.contains(id) {
                    visited.append(id)
                    routeOne(e, message, routingKeys)
                }
            }
            i += 1
        }
    }

    /// Appends what one exchange routes the message to; if nothing, its alternate exchange
    /// (when it exists and was not visited yet: chains of alternates end, loops too).
    private func routeOne(_ e: Exchange, _ message: Message, _ routingKeys: [String]?) {
        let before = routeScratch.count
        if let routingKeys {
            for key in routingKeys { e.route(routingKey: key, message: message, into: &routeScratch) }
        } else {
            e.route(routingKey: message.routingKey, message: message, into: &routeScratch)
        }
        // Visited exchanges are skipped by `route`, so a loop of alternates ends.
        guard routeScratch.count == before, let name = e.alternateExchange, let ae = exchanges[name] else { return }
        routeScratch.append(.exchange(ae))
    }

    // MARK: Policies

    /// Replaces the vhost's policies: every queue and exchange gets the ones that now apply, at
    /// once.
    public func setPolicies(_ policies: VhostPolicies) {
        let hadPolicies = !self.policies.isEmpty
        self.policies = policies
        guard hadPolicies || !policies.isEmpty else { return }
        for q in queues.values { applyPolicies(to: q) }
        for e in exchanges.values { applyPolicies(to: e) }
        endOfBatch()
    }

    func applyPolicies(to q: MessageQueue) {
        guard !policies.isEmpty || q.policyName != nil || q.operatorPolicyName != nil else { return }
        q.applyPolicies(
            policies.policy(for: q.name, kind: .queues), policies.operatorPolicy(for: q.name, kind: .queues))
    }

    private func applyPolicies(to e: Exchange) {
        guard !e.name.isEmpty else { return }
        let policy = policies.policy(for: e.name, kind: .exchanges)
        e.policyName = policy?.name
        e.alternateExchange =
            e.arguments["alternate-exchange"]?.stringValue ?? policy?["alternate-exchange"]?.stringValue
    }

    // MARK: Timers

    /// Puts the queue in the timer heap for `deadline` (the queue checks it is earlier than
    /// what it already has there). Entries made stale by later deadlines are skipped when they
    /// come up.
    func scheduleTimer(_ q: MessageQueue, at deadline: UInt64) {
        guard !q.isDeleted else { return }
        q.timerDeadline = deadline
        timers.insert(TimerEntry(deadline: deadline, queue: q))
    }

    /// The earliest deadline of any queue, if one has one.
    public var nextTimerDeadline: UInt64? { timers.min?.deadline }

    /// Expires messages and unused queues whose deadline has come; the server calls it a few
    /// times a second. With nothing due it only looks at the earliest deadline.
    public func tick(now: UInt64 = MonotonicClock.milliseconds()) {
        var visited = false
        while let first = timers.min, first.deadline <= now {
            _ = timers.removeMin()
            let q = first.queue
            guard !q.isDeleted, queues[q.name] === q else { continue }
            if first.deadline == q.timerDeadline { q.timerDeadline = .max }
            visited = true
            timerVisits += 1
            if q.isExpired(now: now) {
                deleteQueue(q)
                continue
            }
            q.dropExpired(now: now)
            q.rescheduleTimer()
        }
        if !flowWatched.isEmpty && updateFlow() { visited = true }
        if visited { endOfBatch() }
    }

    // MARK: Flow control

    func watchFlow(_ q: MessageQueue) { flowWatched.append(q) }

    /// A message went into `q` while it is in flow: the current batch will be parked.
    func addedInFlow(_ q: MessageQueue) {
        guard publishing else { return }
        if flowBatchQueue == nil { flowBatchQueue = q }
        flowBatchMessages += 1
    }

    /// The queue in flow the batch just handled published to, if any, and its message count.
    func takeFlowBatch() -> (MessageQueue, Int)? {
        guard let q = flowBatchQueue else { return nil }
        let n = flowBatchMessages
        flowBatchQueue = nil
        flowBatchMessages = 0
        return q.isDeleted ? nil : (q, n)
    }

    /// Turns flow on or off for the watched queues; true if parked batches were released.
    private func updateFlow() -> Bool {
        var released = false
        flowWatched.removeAll { q in
            let (sessions, keep) = q.flow.tick(ready: q.messageCount, hasConsumers: !q.consumers.isEmpty)
            if !sessions.isEmpty {
                q.completeBatches(sessions)
                released = true
            }
            if q.isDeleted || !keep {
                q.flow.isWatched = false
                return true
            }
            return false
        }
        return released
    }

    // MARK: Batches

    func queueNeedsDrain(_ q: MessageQueue) { queuesToDrain.append(q) }

    func sessionNeedsFlush(_ s: Session) { sessionsToFlush.append(s) }

    /// Delivers what the batch made deliverable and hands each touched connection its output.
    public func endOfBatch() {
        endingBatch = true
        defer { endingBatch = false }
        while !queuesToDrain.isEmpty {
            swap(&queuesToDrain, &spareDrainList)
            for q in spareDrainList { q.drain() }
            spareDrainList.removeAll(keepingCapacity: true)
        }
        // Write what the batch stored (a sync may complete inline and release confirms).
        store?.endOfBatch()
        while !sessionsToFlush.isEmpty {
            swap(&sessionsToFlush, &spareFlushList)
            for s in spareFlushList { s.flush() }
            spareFlushList.removeAll(keepingCapacity: true)
        }
    }
}
