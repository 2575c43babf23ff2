import AMQPProtocol
import DequeModule

#if canImport(Glibc)
    import Glibc
#endif

/// What makes a `MessageQueue` a stream: an append-only log that consumption never shrinks,
/// read by each consumer from its own offset. Publishing appends (every message is written to
/// disk, whatever its delivery mode); each consumer has a cursor and gets messages within its
/// prefetch; acks only free prefetch. Every delivery carries its offset in the
/// `x-stream-offset` header.
///
/// The newest messages stay in memory (`tailCacheBytes`, and always those not yet written) so
/// consumers keeping up never read the disk; consumers behind read the segment files through
/// the log's index. Owned by the vhost's event loop.
final class StreamQueue {
    final class Cursor {
        /// The next offset this consumer gets.
        var offset: UInt64
        var position = StreamLog.Position()

        init(offset: UInt64) { self.offset = offset }
    }

    struct Entry {
        let offset: UInt64
        let timestamp: Int64
        let message: Message
    }

    let log: StreamLog
    unowned let store: MessageStore
    let name: String
    private var cache = Deque<Entry>()
    private var cacheBytes = 0
    var tailCacheBytes = 8 * 1024 * 1024
    private var cursors: [ObjectIdentifier: Cursor] = [:]
    /// The wall clock, in milliseconds since the epoch (tests move it).
    var clock: () -> Int64 = StreamQueue.wallClock

    init(name: String, log: StreamLog, store: MessageStore) {
        self.name = name
        self.log = log
        self.store = store
    }

    static func wallClock() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    var messageCount: Int { log.messageCount }
    var bytes: Int { log.totalBytes }

    // MARK: Configuration

    /// Takes the segment size and retention the arguments and policies give; retention is
    /// evaluated at once.
    func configure(arguments: FieldTable, limits: QueueLimits, policy: Policy?) {
        let config = StreamArguments.configuration(arguments: arguments, limits: limits, policy: policy)
        log.maxSegmentSize = config.segmentSize
        guard config.retention != log.retention else { return }
        log.retention = config.retention
        applyRetention()
    }

    /// Deletes the segments retention no longer keeps (size and age).
    func applyRetention() {
        if log.applyRetention(now: clock()) > 0 {
            store.streamWritten(log, appended: false)
            trimCache()
        }
    }

    /// When (monotonic ms) the oldest segment gets too old, if it will.
    func nextDeadline(now: UInt64) -> UInt64? {
        guard let wall = log.nextAgeDeadline else { return nil }
        let wait = max(0, wall - clock())
        return now &+ UInt64(wait) &+ 1
    }

    // MARK: Appending

    /// Appends a message with its offset in its headers; confirms wait for the store's sync.
    func append(_ message: Message) -> MessageQueue.EnqueueResult {
        let offset = log.nextOffset
        let stamped = Self.stamp(message, offset: offset)
        let segmentsBefore = log.firstOffset
        do {
            try log.append(stamped, now: clock())
        } catch {
            store.logger.error("cannot append to stream '\(name)': \(error)")
            return .refused
        }
        store.streamWritten(log)
        cache.append(Entry(offset: offset, timestamp: log.chunkTimestamp, message: stamped))
        cacheBytes += stamped.bodySize
        if log.firstOffset != segmentsBefore { store.streamWritten(log, appended: false) }
        trimCache()
        return .persisted
    }

    /// The message with `x-stream-offset` set (replaced if the publisher set it), as RabbitMQ
    /// adds it to every delivery from a stream.
    static func stamp(_ message: Message, offset: UInt64) -> Message {
        guard var properties = try? message.properties.decode() else { return message }
        var headers = properties.headers ?? FieldTable()
        headers["x-stream-offset"] = .int64(Int64(offset))
        properties.headers = headers
        return Message(
            exchange: message.exchange, routingKey: message.routingKey, properties: RawProperties(properties),
            body: message.body)
    }

    /// Keeps the tail cache within its budget (messages not yet in the files always stay) and
    /// drops what retention removed.
    private func trimCache() {
        let first = log.firstOffset
        let written = log.flushedNextOffset
        while let oldest = cache.first,
            oldest.offset < first || (cacheBytes > tailCacheBytes && oldest.offset < written)
        {
            cache.removeFirst()
            cacheBytes -= oldest.message.bodySize
        }
    }

    // MARK: Consumers

    /// Where a consumer asking for `spec` starts.
    func startOffset(_ spec: StreamArguments.Offset) -> UInt64 {
        switch spec {
        case .first: return log.firstOffset
        case .next: return log.nextOffset
        case .last: return log.messageCount == 0 ? log.nextOffset : max(log.lastChunkStart, log.firstOffset)
        case .offset(let n): return min(max(UInt64(max(n, 0)), log.firstOffset), log.nextOffset)
        case .timestamp(let ms):
            if let offset = log.firstOffset(atOrAfter: ms) { return offset }
            return cache.first(where: { $0.offset >= log.flushedNextOffset && $0.timestamp >= ms })?.offset
                ?? log.nextOffset
        }
    }

    func attach(_ consumer: QueueConsumer, at spec: StreamArguments.Offset) {
        cursors[ObjectIdentifier(consumer)] = Cursor(offset: startOffset(spec))
    }

    func detach(_ consumer: QueueConsumer) {
        cursors[ObjectIdentifier(consumer)] = nil
    }

    /// The offset a consumer gets next (tests).
    func cursorOffset(_ consumer: QueueConsumer) -> UInt64? { cursors[ObjectIdentifier(consumer)]?.offset }

    /// Delivers to each consumer what it has not had yet, within its prefetch.
    func drain(_ consumers: [QueueConsumer], from queue: MessageQueue) {
        trimCache()
        for consumer in consumers {
            guard let cursor = cursors[ObjectIdentifier(consumer)] else { continue }
            while cursor.offset < log.nextOffset, consumer.canReceive {
                guard let entry = entry(for: cursor) else { break }
                cursor.offset = entry.offset + 1
                consumer.deliver(QueuedMessage(message: entry.message, sequence: entry.offset), from: queue)
            }
        }
    }

    /// The message at the cursor (or the first kept after it): from the tail cache, else from
    /// the files.
    private func entry(for cursor: Cursor) -> Entry? {
        if cursor.offset < log.firstOffset { cursor.offset = log.firstOffset }
        if let first = cache.first, cursor.offset >= first.offset {
            let i = Int(cursor.offset - first.offset)
            return i < cache.count ? cache[i] : nil
        }
        guard let read = log.read(at: cursor.offset, &cursor.position) else { return nil }
        return Entry(offset: read.offset, timestamp: read.timestamp, message: read.message)
    }

    /// True when some consumer has messages it has not had.
    var hasBacklog: Bool { cursors.values.contains { $0.offset < log.nextOffset } }

    // MARK: Lifecycle

    func destroy() {
        cursors.removeAll()
        cache.removeAll()
        cacheBytes = 0
        store.destroyStreamLog(log, named: name)
    }
}

extension MessageQueue {
    /// The error RabbitMQ gives for an operation streams do not support (540, closing the
    /// connection).
    func streamRefuses(_ operation: String) -> BrokerError {
        .notImplemented(
            "\(operation) not supported by stream queues \(StreamArguments.describe(queue: name, vhost: vhost?.name ?? "/"))"
        )
    }
}

extension MessageQueue {
    /// For a stream, how many messages and bytes its log holds (list_queues); nil otherwise.
    public var streamSummary: (messages: Int, bytes: Int)? {
        stream.map { ($0.messageCount, $0.bytes) }
    }
}
