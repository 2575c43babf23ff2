import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// Chooses the event loop of each connection.
///
/// A connection lives on its vhost's loop, whatever that loop's load when it arrives: a message
/// from it is routed, queued and delivered to consumers there without a hop between threads
/// (request/reply round trips stay on one thread), and a loop's load just after a busy spell
/// says nothing about the new connection. Only when that loop is busy (over `busyShare` of a
/// core) and a connection on it carries much (`heavyMessages` published and delivered, or
/// `heavyBytes`, a second) is that connection moved to the least busy loop, so that reading,
/// decoding and encoding its stream take another core; below that rate the hops would cost more
/// than they save.
final class LoopPlacement: Sendable {
    static let tick = TimeAmount.milliseconds(100)
    /// Utilization over the last `window` ticks.
    static let window = 3
    static let busyShare = 0.85
    static let heavyMessages = 100_000
    static let heavyBytes = 256 * 1024 * 1024
    /// A connection moved because of load stays where it went at least this long.
    static let settleTime = TimeAmount.seconds(10)

    let loads: [LoopLoad]
    /// The last move for load: the next waits until the loops' utilization shows its effect.
    private let lastMove = NIOLockedValueBox<NIODeadline>(.distantPast)

    init(group: any EventLoopGroup, idlePolling: IdlePolling? = nil) {
        loads = group.makeIterator().map { LoopLoad(loop: $0, idlePolling: idlePolling) }
        for load in loads { load.start(placement: self) }
    }

    func stop() { for load in loads { load.stop() } }

    func load(of loop: any EventLoop) -> LoopLoad? { loads.first { $0.loop === loop } }

    /// On `load`'s loop, each tick: a busy loop sends its heaviest connection to the least busy
    /// loop, if that lowers the busier of the two (the connection's part of its loop's work is
    /// estimated by its part of the loop's traffic).
    fileprivate func rebalance(_ load: LoopLoad) {
        let busy = load.utilization
        guard loads.count > 1, busy > Self.busyShare,
            let target = loads.filter({ $0 !== load }).min(by: { $0.utilization < $1.utilization }),
            let heaviest = load.heaviestConnection(), heaviest.isHeavy,
            target.utilization + busy * heaviest.share < busy,
            heaviest.connection.movedForLoadAt.map({ $0 + Self.settleTime < .now() }) ?? true
        else { return }
        let now = NIODeadline.now()
        let measured = Self.tick * Int64(Self.window + 1)
        guard
            lastMove.withLockedValue({ last in
                guard last + measured < now else { return false }
                last = now
                return true
            })
        else { return }
        heaviest.connection.migrate(
            to: target.loop,
            reason:
                "it carries \(heaviest.messagesPerSecond) messages (\(heaviest.bytesPerSecond) bytes) a second "
                + "and its loop is \(Int(load.utilization * 100)) % busy")
    }
}

/// A connection that `LoopPlacement` can measure and move.
protocol MovableConnection: AnyObject {
    /// Messages published and delivered, and bytes read and delivered, since the last call
    /// (which resets them).
    func takeTraffic() -> (messages: Int, bytes: Int)
    /// When it last moved because of load.
    var movedForLoadAt: NIODeadline? { get }
    /// `reason` is logged; nil for routine moves.
    func migrate(to loop: any EventLoop, reason: String?)
}

/// One event loop's share of a core (its thread's CPU time, less the time it spent polling for
/// work (`IdlePolling`), over wall time) and the connections on it.
final class LoopLoad: @unchecked Sendable {
    let loop: any EventLoop
    private let idlePolling: IdlePolling?
    private let share = NIOLockedValueBox(0.0)
    private let task = NIOLockedValueBox<RepeatedTask?>(nil)

    // On `loop` only.
    private var connections: [ObjectIdentifier: Entry] = [:]
    private var samples: [(cpu: Double, wall: Double)] = []

    struct Entry {
        /// Strong: a weak reference would give the handler a side table, and every retain of it
        /// (one per batch of output) would take the runtime's slow path. Connections remove
        /// themselves when their channel goes inactive.
        let connection: any MovableConnection
        var messages = 0
        var bytes = 0
    }

    struct Heaviest {
        var connection: any MovableConnection
        var messagesPerSecond: Int
        var bytesPerSecond: Int
        /// Its traffic against the thresholds: 1 or more is heavy.
        var weight: Double
        /// Its part of its loop's traffic (0 to 1).
        var share: Double
        var isHeavy: Bool { weight >= 1 }
    }

    init(loop: any EventLoop, idlePolling: IdlePolling?) {
        self.loop = loop
        self.idlePolling = idlePolling
    }

    /// The loop's thread's share of a core over the last few ticks (0 to 1).
    var utilization: Double { share.withLockedValue { $0 } }

    fileprivate func start(placement: LoopPlacement) {
        let repeated = loop.scheduleRepeatedTask(initialDelay: LoopPlacement.tick, delay: LoopPlacement.tick) {
            [weak placement] _ in
            self.sample()
            placement?.rebalance(self)
        }
        task.withLockedValue { $0 = repeated }
    }

    fileprivate func stop() { task.withLockedValue { $0?.cancel() } }

    /// On `loop`: the connection now lives here.
    func add(_ connection: any MovableConnection) {
        connections[ObjectIdentifier(connection)] = Entry(connection: connection)
    }

    /// On `loop`.
    func remove(_ connection: any MovableConnection) {
        connections.removeValue(forKey: ObjectIdentifier(connection))
    }

    private func sample() {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        let cpu = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9 - (idlePolling?.secondsPolled() ?? 0)
        clock_gettime(CLOCK_MONOTONIC, &now)
        let wall = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        samples.append((cpu, wall))
        if samples.count > LoopPlacement.window + 1 { samples.removeFirst() }
        idlePolling?.sample()
        if let first = samples.first, wall > first.wall {
            share.withLockedValue { $0 = min(1, (cpu - first.cpu) / (wall - first.wall)) }
        }
        for (id, var entry) in connections {
            let counts = entry.connection.takeTraffic()
            entry.messages = counts.messages
            entry.bytes = counts.bytes
            connections[id] = entry
        }
    }

    /// The connection that carried the most in the last tick, with its rates.
    fileprivate func heaviestConnection() -> Heaviest? {
        let perSecond = 1e9 / Double(LoopPlacement.tick.nanoseconds)
        /// The larger of its message and byte rates as a part of their thresholds.
        func weight(_ entry: Entry) -> Double {
            max(
                Double(entry.messages) * perSecond / Double(LoopPlacement.heavyMessages),
                Double(entry.bytes) * perSecond / Double(LoopPlacement.heavyBytes))
        }
        guard let top = connections.values.max(by: { weight($0) < weight($1) }) else { return nil }
        let total = connections.values.reduce(0) { $0 + weight($1) }
        return Heaviest(
            connection: top.connection, messagesPerSecond: Int(Double(top.messages) * perSecond),
            bytesPerSecond: Int(Double(top.bytes) * perSecond), weight: weight(top),
            share: total > 0 ? weight(top) / total : 1)
    }
}
