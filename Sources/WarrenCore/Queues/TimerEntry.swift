/// A queue's place in its vhost's timer heap: the queue needs its timer at `deadline`
/// (monotonic milliseconds). Ordered by deadline.
struct TimerEntry: Comparable {
    let deadline: UInt64
    let queue: MessageQueue

    static func < (a: TimerEntry, b: TimerEntry) -> Bool { a.deadline < b.deadline }
    static func == (a: TimerEntry, b: TimerEntry) -> Bool { a.deadline == b.deadline && a.queue === b.queue }
}
