import NIOCore

/// Spreads publishes evenly at a set rate: how many may go now, and when the next may.
/// A publisher that fell behind (the broker pushed back) does not burst to catch up by more
/// than a tenth of a second's worth.
struct PublishPacer {
    let messagesPerSecond: Double
    private var start: NIODeadline
    private var sent = 0

    init(messagesPerSecond: Double, now: NIODeadline = .now()) {
        self.messagesPerSecond = messagesPerSecond
        self.start = now
    }

    /// Messages that may be sent at `now`.
    mutating func allowance(now: NIODeadline = .now()) -> Int {
        let elapsed = Double((now - start).nanoseconds) / 1e9
        let due = Int(elapsed * messagesPerSecond)
        let maxBurst = max(1, Int(messagesPerSecond / 10))
        if due - sent > maxBurst {
            // Forget the backlog beyond one burst: restart the schedule from here.
            sent = due - maxBurst
        }
        return max(0, due - sent)
    }

    mutating func sent(_ n: Int) { sent += n }

    /// How long until one more message is due.
    func delayUntilNext(now: NIODeadline = .now()) -> TimeAmount {
        let nextAt = Double(sent + 1) / messagesPerSecond
        let elapsed = Double((now - start).nanoseconds) / 1e9
        return .nanoseconds(max(Int64((nextAt - elapsed) * 1e9), 200_000))
    }
}
