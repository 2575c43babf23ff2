import AMQPProtocol

/// A change to a quorum queue's state. Every change a quorum queue's messages go through is
/// one of these commands, applied in order by `MessageQueue.apply(_:)` and nowhere else: the
/// outcome depends only on the queue's state and the command, so a replicated log (Raft) can
/// later carry the same commands to every replica and each will reach the same state. On this
/// single node they are applied as they come.
enum QuorumCommand {
    /// A published message joins the back of the queue; it is persisted whatever its delivery
    /// mode.
    case enqueue(Message)
    /// The next message goes out to a consumer or basic.get: returned messages first, in the
    /// order they came back, then the others in publish order.
    case checkout
    /// A checked-out message is done with (acked, or delivered without ack).
    case settle(QueuedMessage)
    /// Checked-out messages come back, in the order given; each one's delivery count grows by
    /// one. One that has now come back more often than the delivery limit is discarded
    /// (`delivery_limit`). As RabbitMQ 3.10 does, the others are served before the messages
    /// waiting when their consumer is gone (channel or connection closed) or when the queue
    /// has a delivery limit; a nack, reject or recover on a queue without a limit puts them
    /// at the back.
    case `return`([QueuedMessage], consumerGone: Bool)
    /// A message leaves unconsumed (rejected without requeue, expired, over the length limit,
    /// past the delivery limit): dead-lettered if the queue has a dead-letter exchange, else
    /// dropped.
    case discard(QueuedMessage, DeadLetterReason)
}

/// What a quorum queue keeps beyond its ready messages (`MessageQueue.ready`).
struct QuorumState {
    /// How many messages at the head of the ready list are returned ones, served before the
    /// rest (RabbitMQ's returns queue).
    var returnsAhead = 0

    /// Where a message coming back goes.
    enum Placement: Equatable {
        /// Behind the other returned messages, ahead of the rest.
        case returns
        /// At the back of the queue.
        case back
        /// Out of the queue: it came back more often than the limit allows.
        case overLimit
    }

    /// Counts a return of `m` and says where it goes; the delivery count is compared with the
    /// limit after it grows (a limit of 2 allows two returns and discards at the third).
    static func placement(of m: inout QueuedMessage, consumerGone: Bool, deliveryLimit: Int?) -> Placement {
        m.deliveryCount += 1
        m.redelivered = true
        if let limit = deliveryLimit {
            return m.deliveryCount > limit ? .overLimit : .returns
        }
        return consumerGone ? .returns : .back
    }
}

/// What applying a command gives back.
enum QuorumOutcome {
    case enqueued(MessageQueue.EnqueueResult)
    /// The message checked out; nil when none was ready.
    case checkedOut(QueuedMessage?)
    case done

    var enqueueResult: MessageQueue.EnqueueResult {
        if case .enqueued(let r) = self { return r }
        return .queued
    }

    var message: QueuedMessage? {
        if case .checkedOut(let m) = self { return m }
        return nil
    }
}

extension MessageQueue {
    /// Applies one command to this quorum queue.
    @discardableResult
    func apply(_ command: QuorumCommand) -> QuorumOutcome {
        switch command {
        case .enqueue(let message):
            return .enqueued(append(message))
        case .checkout:
            return .checkedOut(takeHead())
        case .settle(let m):
            forget(m)
        case .return(let messages, let consumerGone):
            for var m in messages {
                switch QuorumState.placement(of: &m, consumerGone: consumerGone, deliveryLimit: limits.deliveryLimit) {
                case .returns:
                    insertReady(m, at: quorum.returnsAhead)
                    quorum.returnsAhead += 1
                case .back:
                    insertReady(m, at: ready.count)
                case .overLimit:
                    apply(.discard(m, .deliveryLimit))
                    continue
                }
                if let storage, let location = m.location {
                    storage.messages.recordReturn(location, in: storage.queue)
                }
            }
            rescheduleTimer()
            scheduleDrain()
        case .discard(let m, let reason):
            endUnconsumed(m, reason: reason)
        }
        return .done
    }

    /// The message as a consumer or basic.get receives it: from a quorum queue, with the
    /// `x-delivery-count` header once it has come back (on basic.get always, 0 the first
    /// time), as RabbitMQ 3.10 sends it. Only then are the properties re-encoded.
    @inline(__always)
    func outgoing(_ m: QueuedMessage, get: Bool) -> Message {
        guard type == .quorum, get || m.deliveryCount > 0 else { return m.loaded }
        return Self.withDeliveryCount(m.loaded, m.deliveryCount)
    }

    static func withDeliveryCount(_ message: Message, _ count: Int) -> Message {
        guard var properties = try? message.properties.decode() else { return message }
        var headers = properties.headers ?? FieldTable()
        headers["x-delivery-count"] = .int64(Int64(count))
        // RabbitMQ sorts a table it sets a value in.
        properties.headers = FieldTable(headers.entries.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) })
        return Message(
            exchange: message.exchange, routingKey: message.routingKey, properties: RawProperties(properties),
            body: message.body)
    }
}
