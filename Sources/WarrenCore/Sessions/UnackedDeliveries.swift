import DequeModule

/// A delivery awaiting basic.ack/nack/reject, in delivery-tag order.
struct UnackedDelivery {
    let deliveryTag: UInt64
    let queue: MessageQueue
    let message: QueuedMessage
    /// The consumer it went to; nil for basic.get.
    let consumer: ChannelConsumer?
    var settled = false
}

/// A channel's unacknowledged deliveries. Tags grow monotonically, so lookup is a binary search;
/// settled entries are marked and popped once they reach the front, so acks in any order cost
/// O(log n) and no shifting.
struct UnackedDeliveries {
    private var entries = Deque<UnackedDelivery>()
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ d: UnackedDelivery) {
        entries.append(d)
        count += 1
    }

    private func index(of tag: UInt64) -> Int? {
        var lo = 0
        var hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].deliveryTag < tag { lo = mid + 1 } else { hi = mid }
        }
        return lo < entries.count && entries[lo].deliveryTag == tag ? lo : nil
    }

    /// Removes and returns the deliveries an ack/nack/reject names, or nil if the tag is
    /// unknown (RabbitMQ's rule: the tag itself must be outstanding; tag 0 with multiple
    /// means every outstanding delivery).
    mutating func take(tag: UInt64, multiple: Bool) -> [UnackedDelivery]? {
        var taken: [UnackedDelivery] = []
        if multiple && tag == 0 {
            taken = entries.filter { !$0.settled }
            entries.removeAll()
            count = 0
            return taken
        }
        guard let i = index(of: tag), !entries[i].settled else { return nil }
        if multiple {
            // Every entry up to the tag leaves: moved out of the deque rather than copied (a copy
            // costs a retain and a release of each reference it holds).
            taken.reserveCapacity(i + 1)
            for _ in 0...i {
                let d = entries.removeFirst()
                if !d.settled { taken.append(d) }
            }
        } else if i == 0 {
            taken.append(entries.removeFirst())
        } else {
            taken.append(entries[i])
            entries[i].settled = true
        }
        count -= taken.count
        while !entries.isEmpty && entries[entries.startIndex].settled { entries.removeFirst() }
        return taken
    }

    func contains(where predicate: (UnackedDelivery) -> Bool) -> Bool {
        entries.contains { !$0.settled && predicate($0) }
    }

    /// Every outstanding delivery, removed.
    mutating func takeAll() -> [UnackedDelivery] {
        take(tag: 0, multiple: true) ?? []
    }

    /// Puts back deliveries taken by an ack that a transaction rolled back.
    mutating func restore(_ deliveries: [UnackedDelivery]) {
        for var d in deliveries {
            d.settled = false
            if let i = index(of: d.deliveryTag) {
                entries[i].settled = false
            } else {
                var lo = 0
                var hi = entries.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if entries[mid].deliveryTag < d.deliveryTag { lo = mid + 1 } else { hi = mid }
                }
                entries.insert(d, at: lo)
            }
            count += 1
        }
    }
}
