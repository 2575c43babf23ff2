import AMQPProtocol

extension VirtualHost {
    /// Declares a new stream: checked as RabbitMQ checks one, its log created in the store and
    /// its declaration recorded.
    func declareStream(
        name: String, durable: Bool, exclusive: Bool, autoDelete: Bool, arguments: FieldTable, serverNamed: Bool
    ) throws(BrokerError) -> MessageQueue {
        try StreamArguments.validate(
            arguments, queue: name, vhost: self.name, durable: durable, exclusive: exclusive, autoDelete: autoDelete,
            serverNamed: serverNamed)
        guard let store else {
            throw BrokerError(.channel, ReplyCode.internalError, "streams need a data directory")
        }
        let q = MessageQueue(
            name: name, durable: true, autoDelete: false, exclusiveOwner: nil, arguments: arguments,
            limits: try QueueLimits(arguments: arguments, queue: name, vhost: self.name))
        let config = StreamArguments.configuration(arguments: arguments, limits: q.limits, policy: nil)
        do {
            let log = try store.createStreamLog(named: name, maxSegmentSize: config.segmentSize)
            q.stream = StreamQueue(name: name, log: log, store: store)
        } catch {
            logger.error("cannot create storage for stream '\(name)': \(error)")
            throw BrokerError(.channel, ReplyCode.internalError, "cannot create storage for queue '\(name)'")
        }
        install(q)
        store.record(.queue(q))
        return q
    }

    /// Recreates a stream from its log at start-up.
    func recoverStream(
        named name: String, arguments: FieldTable, from store: MessageStore
    ) throws(StorageError)
        -> MessageQueue
    {
        let limits = (try? QueueLimits(arguments: arguments, queue: name, vhost: self.name)) ?? QueueLimits()
        let q = MessageQueue(
            name: name, durable: true, autoDelete: false, exclusiveOwner: nil, arguments: arguments, limits: limits)
        let config = StreamArguments.configuration(arguments: arguments, limits: limits, policy: nil)
        let log = try store.recoverStreamLog(named: name, maxSegmentSize: config.segmentSize)
        q.stream = StreamQueue(name: name, log: log, store: store)
        install(q)
        return q
    }

    private func install(_ q: MessageQueue) {
        q.vhost = self
        q.stream?.configure(arguments: q.arguments, limits: q.limits, policy: nil)
        applyPolicies(to: q)
        queues[q.name] = q
        q.rescheduleTimer()
    }
}
