import DequeModule

/// Flow control for one queue, in the spirit of RabbitMQ's `flow` connection state: when
/// publishers fill a queue much faster than its consumers take messages, they are slowed to the
/// consumers' pace instead of growing the queue without bound.
///
/// A connection has at most two batches of commands in flight to its vhost and stops reading its
/// socket beyond that (TCP pushes back on the client). A batch normally completes as soon as the
/// vhost has handled it; a batch that put messages into a queue in flow completes only once the
/// queue has delivered as many messages as the batch added (it is *parked* on the queue).
///
/// Flow is decided on the vhost's 100 ms tick, only for queues with at least `backlogFloor`
/// ready messages and consumers: it turns on when the backlog grew by `growthPerTick` or more
/// since the last tick while consumers were being delivered to, and stays on until the backlog
/// falls under half the floor, the queue has no consumer, or a tick passes without a delivery
/// (consumers that stopped taking messages never hold publishers up). A queue without consumers,
/// or that publishers fill at a modest rate, is never in flow: it keeps every message, as
/// RabbitMQ's queues do, until the memory alarm.
struct PublisherFlow {
    /// Ready messages below which a queue is not watched.
    static let backlogFloor = 20_000
    /// Net growth per tick (100 ms) that turns flow on: publishers outrunning consumers by
    /// 100 000 messages a second or more.
    static let growthPerTick = 10_000

    /// A batch's completion held by the queue, and how many messages it added.
    struct Parked {
        let session: Session
        let messages: Int
    }

    private(set) var isOn = false
    /// In the vhost's list of queues looked at every tick.
    var isWatched = false
    private var readyAtTick = 0
    private var deliveredSinceTick = 0
    /// Deliveries not yet spent on releasing the parked batch at the front.
    private var credit = 0
    private var parked = Deque<Parked>()

    var hasParked: Bool { !parked.isEmpty }

    /// Whether a queue with `ready` messages and consumers should be watched.
    static func shouldWatch(ready: Int) -> Bool { ready >= backlogFloor }

    /// The queue joins the vhost's watched list with `ready` messages.
    mutating func watch(ready: Int) {
        isWatched = true
        readyAtTick = ready
        deliveredSinceTick = 0
    }

    /// A batch added `messages` to the queue while it was in flow: its completion waits.
    mutating func park(_ session: Session, messages: Int) {
        parked.append(Parked(session: session, messages: messages))
    }

    /// The queue delivered `count` messages: returns the batches now paid for.
    mutating func delivered(_ count: Int) -> [Session] {
        deliveredSinceTick += count
        guard !parked.isEmpty else { return [] }
        credit += count
        var released: [Session] = []
        while let first = parked.first, first.messages <= credit {
            credit -= first.messages
            released.append(parked.removeFirst().session)
        }
        return released
    }

    /// Every parked batch, released (flow off, queue deleted, consumers gone).
    mutating func releaseAll() -> [Session] {
        isOn = false
        credit = 0
        let sessions = parked.map(\.session)
        parked.removeAll()
        return sessions
    }

    /// The tick's decision from the queue's state now. Returns the batches to release and
    /// whether the queue should stay watched.
    mutating func tick(ready: Int, hasConsumers: Bool) -> (released: [Session], keepWatching: Bool) {
        let growth = ready - readyAtTick
        let delivered = deliveredSinceTick
        readyAtTick = ready
        deliveredSinceTick = 0
        if !hasConsumers || delivered == 0 || ready < Self.backlogFloor / 2 {
            let released = releaseAll()
            return (released, hasConsumers && Self.shouldWatch(ready: ready))
        }
        if !isOn && growth >= Self.growthPerTick && ready >= Self.backlogFloor { isOn = true }
        return ([], true)
    }
}
