import AMQPProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// Why a message died, as the `reason` of its `x-death` entry.
public enum DeadLetterReason: String, Sendable {
    /// basic.reject or basic.nack with requeue=false.
    case rejected
    /// Its TTL (the queue's or its own expiration) passed.
    case expired
    /// Dropped from the head by x-max-length(-bytes), or refused by reject-publish-dlx.
    case maxlen
    /// Returned to a quorum queue more often than its delivery limit allows.
    case deliveryLimit = "delivery_limit"
}

// MARK: The queue's side

extension MessageQueue {
    /// A delivered message was rejected without requeue: dead-lettered if the queue has a
    /// dead-letter exchange, else let go.
    public func reject(_ m: QueuedMessage) {
        discard(m, reason: .rejected)
    }

    /// A message leaves the queue unconsumed (rejected, expired, over the length limit or,
    /// in a quorum queue, returned too often).
    func discard(_ m: QueuedMessage, reason: DeadLetterReason) {
        if type == .quorum {
            apply(.discard(m, reason))
        } else {
            endUnconsumed(m, reason: reason)
        }
    }

    /// Dead-letters a message that leaves unconsumed if the queue has a dead-letter exchange,
    /// else lets it go.
    func endUnconsumed(_ m: QueuedMessage, reason: DeadLetterReason) {
        if limits.deadLetterExchange == nil {
            forget(m)
        } else {
            deadLetter(m, reason: reason)
        }
    }

    /// Republishes a message that died here to the queue's dead-letter exchange, then lets the
    /// original go. When the copy was written to a store, the original's stored record goes
    /// only once that write is synced, so a crash in between cannot lose the message.
    private func deadLetter(_ m: QueuedMessage, reason: DeadLetterReason) {
        guard !isDeleted, let vhost, let dlx = limits.deadLetterExchange, let exchange = vhost.exchanges[dlx] else {
            // A dead-letter exchange that does not exist drops the message, as in RabbitMQ.
            forget(m)
            return
        }
        var message = m.message
        if message == nil, let storage, let location = m.location {
            do {
                message = try storage.queue.read(location)
            } catch {
                vhost.logger.error("cannot dead-letter an unreadable message of queue '\(name)': \(error)")
            }
        }
        guard let message else {
            forget(m)
            return
        }
        let persisted = vhost.deadLetter(
            message, reason: reason, from: name, to: exchange, routingKey: limits.deadLetterRoutingKey)
        if persisted, let storage, let location = m.location {
            storage.messages.removeAfterSync(location, from: storage.queue)
        } else {
            forget(m)
        }
    }

    /// A publish refused by `reject-publish-dlx`: the message is dead-lettered (reason maxlen).
    func deadLetterRefused(_ message: Message) {
        guard let vhost, let dlx = limits.deadLetterExchange, let exchange = vhost.exchanges[dlx] else { return }
        vhost.deadLetter(message, reason: .maxlen, from: name, to: exchange, routingKey: limits.deadLetterRoutingKey)
    }
}

// MARK: Republishing

extension VirtualHost {
    /// Publishes the dead-letter copy of `message` (which died in queue `queue`) to
    /// `exchange`, skipping queues it would cycle back into without a rejection on the way.
    /// Returns true when a queue wrote the copy to its store.
    @discardableResult
    func deadLetter(
        _ message: Message, reason: DeadLetterReason, from queue: String, to exchange: Exchange, routingKey: String?
    ) -> Bool {
        guard
            let dead = DeadLetter.make(
                message, reason: reason, queue: queue, exchange: exchange.name, routingKey: routingKey,
                time: UInt64(max(0, time(nil))))
        else {
            logger.warning("dropped a message of queue '\(queue)' that cannot be dead-lettered: malformed properties")
            return false
        }
        var targets: [MessageQueue] = []
        route(dead.message, routingKeys: dead.routingKeys, via: exchange, into: &targets)
        var persisted = false
        for target in targets {
            if reason != .rejected, DeadLetter.isCycle(into: target.name, deaths: dead.deaths) {
                logger.debug(
                    "dead-lettered message dropped: it would cycle back to queue '\(target.name)' with no rejection")
                continue
            }
            if target.enqueue(dead.message) == .persisted { persisted = true }
        }
        return persisted
    }
}

/// Builds a dead-lettered message as RabbitMQ 3.10 does.
enum DeadLetter {
    struct Result {
        var message: Message
        /// The keys to route with: the dead-letter routing key, else the message's routing key
        /// and its CC and BCC keys.
        var routingKeys: [String]
        /// The new `x-death` array, most recent first.
        var deaths: [FieldValue]
    }

    /// The copy of `message` to publish to `exchange`: an `x-death` entry for this queue and
    /// reason added (or its count incremented and moved first), `x-first-death-*` set on the
    /// first death, the expiration moved into the entry as `original-expiration`, BCC removed
    /// (and CC too when a dead-letter routing key replaces the keys). As RabbitMQ's, the
    /// headers come out sorted by name. Nil if the properties cannot be decoded.
    static func make(
        _ message: Message, reason: DeadLetterReason, queue: String, exchange: String, routingKey: String?,
        time: UInt64
    ) -> Result? {
        guard var properties = try? message.properties.decode() else { return nil }
        var headers = properties.headers ?? FieldTable()
        let cc = strings(headers["CC"])
        let bcc = strings(headers["BCC"])
        headers["BCC"] = nil

        var info: [(key: String, value: FieldValue)] = [
            ("reason", .string(reason.rawValue)),
            ("queue", .string(queue)),
            ("time", .timestamp(time)),
            ("exchange", .string(message.exchange)),
            ("routing-keys", .array(([message.routingKey] + cc).map(FieldValue.string))),
        ]
        if let expiration = properties.expiration {
            info.append(("original-expiration", .string(expiration)))
            properties.expiration = nil
        }

        let deaths: [FieldValue]
        if case .array(let existing)? = headers["x-death"] {
            var match: FieldTable?
            var others: [FieldValue] = []
            for entry in existing {
                if case .table(let t) = entry, t["queue"]?.stringValue == queue,
                    t["reason"]?.stringValue == reason.rawValue
                {
                    if var m = match {
                        // Entries of the same queue and reason (left by old brokers) merge.
                        m["count"] = .int64((m["count"]?.integerValue ?? 1) + (t["count"]?.integerValue ?? 1))
                        match = m
                    } else {
                        match = t
                    }
                } else {
                    others.append(entry)
                }
            }
            var front: FieldTable
            if var m = match {
                // The entry keeps its first time, exchange and keys; only the count grows.
                m["count"] = .int64((m["count"]?.integerValue ?? 0) + 1)
                front = m
            } else {
                front = FieldTable([("count", .int64(1))] + info)
            }
            front = sorted(front)
            deaths = [.table(front)] + others
        } else {
            deaths = [.table(FieldTable([("count", .int64(1))] + info))]
            headers["x-first-death-reason"] = .string(reason.rawValue)
            headers["x-first-death-queue"] = .string(queue)
            headers["x-first-death-exchange"] = .string(message.exchange)
        }
        headers["x-death"] = .array(deaths)
        headers = sorted(headers)

        let keys: [String]
        if let routingKey {
            keys = [routingKey]
            headers["CC"] = nil
        } else {
            keys = [message.routingKey] + cc + bcc
        }
        properties.headers = headers
        let copy = Message(
            exchange: exchange, routingKey: keys[0], properties: RawProperties(properties), body: message.body)
        return Result(message: copy, routingKeys: keys, deaths: deaths)
    }

    /// True when a message with these deaths, routed to `queue`, would come back to a queue
    /// it already died in with no rejection since: a fully automatic cycle, which RabbitMQ
    /// breaks by dropping the message.
    static func isCycle(into queue: String, deaths: [FieldValue]) -> Bool {
        for death in deaths {
            guard case .table(let t) = death, t["reason"]?.stringValue != DeadLetterReason.rejected.rawValue else {
                return false
            }
            if t["queue"]?.stringValue == queue { return true }
        }
        return false
    }

    private static func strings(_ value: FieldValue?) -> [String] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap(\.stringValue)
    }

    /// The table with its keys in byte order (RabbitMQ sorts a table it sets a value in).
    private static func sorted(_ table: FieldTable) -> FieldTable {
        FieldTable(table.entries.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) })
    }
}
