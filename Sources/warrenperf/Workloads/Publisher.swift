import AMQPProtocol
import NIOCore

/// One producer: writes ready-made publishes while the socket takes them, paced when a rate is
/// set, with at most `confirmWindow` unconfirmed when publisher confirms are on. Runs on its
/// connection's event loop, yielding to it after each turn so reads (confirms) keep flowing.
final class Publisher: ChannelObserver {
    private let handler: AMQPClientHandler
    private var batch: PublishBatch
    private let meter: RateMeter
    private let confirmWindow: Int
    private var pacer: PublishPacer?
    private var confirms = ConfirmTracker()
    private var published = 0
    private var stopped = false
    private var turnScheduled = false
    private var pacingTask: Scheduled<Void>?

    /// Messages written per turn of the loop at most, so that one producer cannot starve the
    /// other connections on its loop.
    private static let messagesPerTurn = 8192

    init(handler: AMQPClientHandler, batch: PublishBatch, meter: RateMeter, confirmWindow: Int, rate: Double?) {
        self.handler = handler
        self.batch = batch
        self.meter = meter
        self.confirmWindow = confirmWindow
        self.pacer = rate.map { PublishPacer(messagesPerSecond: $0) }
    }

    func start() {
        if pacer != nil { pacer = PublishPacer(messagesPerSecond: pacer!.messagesPerSecond) }
        publishTurn()
    }

    func stop() {
        stopped = true
        pacingTask?.cancel()
    }

    private var outstanding: Int { published - confirms.settled }

    private func publishTurn() {
        turnScheduled = false
        guard !stopped else { return }
        var budget = Self.messagesPerTurn
        if confirmWindow > 0 { budget = min(budget, confirmWindow - outstanding) }
        if pacer != nil { budget = min(budget, pacer!.allowance()) }
        var sent = 0
        while sent < budget && handler.isWritable {
            let n = min(batch.count, budget - sent)
            handler.write(batch.next(n))
            sent += n
        }
        if sent > 0 {
            published += sent
            pacer?.sent(sent)
            meter.add(published: sent)
            handler.flush()
        }
        if !handler.isWritable { return }  // becameWritable() resumes
        if confirmWindow > 0 && outstanding >= confirmWindow { return }  // confirmed() resumes
        if let pacer, sent >= budget, budget < Self.messagesPerTurn {
            let bound = NIOLoopBound(self, eventLoop: handler.eventLoop)
            pacingTask = handler.eventLoop.scheduleTask(in: pacer.delayUntilNext()) { bound.value.publishTurn() }
            turnScheduled = true
            return
        }
        scheduleTurn()
    }

    private func scheduleTurn() {
        guard !turnScheduled, !stopped else { return }
        turnScheduled = true
        let bound = NIOLoopBound(self, eventLoop: handler.eventLoop)
        handler.eventLoop.execute { bound.value.publishTurn() }
    }

    // MARK: ChannelObserver

    func becameWritable() { scheduleTurn() }

    func confirmed(tag: UInt64, multiple: Bool, nacked: Bool) {
        let wasFull = confirmWindow > 0 && outstanding >= confirmWindow
        let settled = confirms.settle(tag: tag, multiple: multiple)
        if nacked {
            meter.add(nacked: settled)
        } else {
            meter.add(confirmed: settled)
        }
        if wasFull && outstanding < confirmWindow { scheduleTurn() }
    }

    func closed(_ error: ClientError) {
        if !stopped { meter.record(error: "producer: \(error)") }
        stopped = true
    }
}

/// Which publishes the broker has settled (acked or nacked), from confirms that may be
/// single or `multiple`. Brokers confirm in order in practice, so the set of tags settled out
/// of order stays empty or tiny.
struct ConfirmTracker {
    /// Every tag up to this one is settled.
    private(set) var settledThrough: UInt64 = 0
    private var settledAbove: Set<UInt64> = []

    var settled: Int { Int(settledThrough) + settledAbove.count }

    /// Settles `tag` (and all before it when `multiple`); returns how many were newly settled.
    mutating func settle(tag: UInt64, multiple: Bool) -> Int {
        let before = settled
        if multiple {
            if tag > settledThrough {
                settledThrough = tag
                if !settledAbove.isEmpty { settledAbove = settledAbove.filter { $0 > tag } }
            }
        } else if tag > settledThrough {
            settledAbove.insert(tag)
        }
        while settledAbove.remove(settledThrough + 1) != nil { settledThrough += 1 }
        return settled - before
    }
}
