import DequeModule

/// A queue's ready messages, in the order they are delivered. A plain queue keeps one deque in
/// publish order and pays nothing more; a priority queue (`x-max-priority`) keeps one deque per
/// priority level, each in publish order, and delivers from the highest level that holds
/// messages first.
struct ReadyMessages {
    private var fifo = Deque<QueuedMessage>()
    private var levels: PriorityLevels?

    /// `maxPriority` nil (or 0: a single level) for a plain queue.
    init(maxPriority: UInt8?) {
        if let maxPriority, maxPriority > 0 { levels = PriorityLevels() }
    }

    var count: Int { levels?.count ?? fifo.count }
    var isEmpty: Bool { count == 0 }

    /// The next message to deliver.
    var first: QueuedMessage? {
        guard let levels else { return fifo.first }
        return levels.first
    }

    mutating func append(_ m: QueuedMessage) {
        if levels == nil {
            fifo.append(m)
        } else {
            levels!.append(m)
        }
    }

    mutating func removeFirst() -> QueuedMessage {
        if levels == nil { return fifo.removeFirst() }
        return levels!.removeFirst()
    }

    /// Puts messages back at their original positions (by sequence), each in its level.
    /// `messages` must be sorted by sequence.
    mutating func insertInOrder(_ messages: [QueuedMessage]) {
        if levels == nil {
            // Requeued messages are usually older than everything ready: merge with a cursor.
            var i = fifo.startIndex
            for m in messages {
                while i < fifo.endIndex && fifo[i].sequence < m.sequence { i += 1 }
                fifo.insert(m, at: i)
                i += 1
            }
        } else {
            for m in messages { levels!.insertInOrder(m) }
        }
    }

    /// Inserts at a position of a plain queue's list (a quorum queue's returns go ahead of the
    /// other ready messages; quorum queues have no priorities).
    mutating func insert(_ m: QueuedMessage, at index: Int) {
        precondition(levels == nil, "a priority queue has no single list of positions")
        fifo.insert(m, at: index)
    }

    mutating func removeAll() {
        fifo.removeAll()
        levels?.removeAll()
    }

    func forEach(_ body: (QueuedMessage) -> Void) {
        if let levels {
            levels.forEach(body)
        } else {
            for m in fifo { body(m) }
        }
    }
}

/// The levels of a priority queue: index = priority. Levels are created up to the highest
/// priority seen, and an empty level holds no storage (an empty deque allocates nothing).
struct PriorityLevels {
    private var levels: [Deque<QueuedMessage>] = []
    private(set) var count = 0
    /// The highest level holding messages; -1 when empty.
    private var highest = -1

    var first: QueuedMessage? { highest < 0 ? nil : levels[highest].first }

    mutating func append(_ m: QueuedMessage) {
        let p = Int(m.priority)
        while levels.count <= p { levels.append(Deque()) }
        levels[p].append(m)
        count += 1
        if p > highest { highest = p }
    }

    mutating func removeFirst() -> QueuedMessage {
        let m = levels[highest].removeFirst()
        count -= 1
        while highest >= 0 && levels[highest].isEmpty { highest -= 1 }
        return m
    }

    /// Inserts `m` at its place by sequence within its level.
    mutating func insertInOrder(_ m: QueuedMessage) {
        let p = Int(m.priority)
        while levels.count <= p { levels.append(Deque()) }
        var lo = 0
        var hi = levels[p].count
        while lo < hi {
            let mid = (lo + hi) / 2
            if levels[p][mid].sequence < m.sequence { lo = mid + 1 } else { hi = mid }
        }
        levels[p].insert(m, at: lo)
        count += 1
        if p > highest { highest = p }
    }

    mutating func removeAll() {
        for i in levels.indices { levels[i].removeAll() }
        count = 0
        highest = -1
    }

    func forEach(_ body: (QueuedMessage) -> Void) {
        for level in levels.reversed() {
            for m in level { body(m) }
        }
    }
}
