import AMQPProtocol
import NIOCore

/// Declares a queue, deletes it, and again, as fast as the broker answers: each step is sent
/// from the previous reply's callback on the connection's loop, with no hop to another thread.
final class QueueChurner {
    private let handler: AMQPClientHandler
    private let namePrefix: String
    private let durable: Bool
    private let meter: RateMeter
    private var sequence = 0
    private var stopped = false
    private let finished: EventLoopPromise<Void>

    init(handler: AMQPClientHandler, namePrefix: String, durable: Bool, meter: RateMeter) {
        self.handler = handler
        self.namePrefix = namePrefix
        self.durable = durable
        self.meter = meter
        self.finished = handler.eventLoop.makePromise()
    }

    /// Completes when the churn has stopped and the last queue declared is deleted.
    var done: EventLoopFuture<Void> { finished.futureResult }

    func start() { declareNext() }

    func stop() { stopped = true }

    private func declareNext() {
        guard !stopped else { return finished.succeed() }
        sequence += 1
        let name = "\(namePrefix)-\(sequence)"
        let bound = NIOLoopBound(self, eventLoop: handler.eventLoop)
        let declare = QueueDeclare(queue: name, durable: durable, exclusive: false, autoDelete: false)
        handler.call(.queueDeclare(declare), channel: 1).flatMap { _ in
            bound.value.meter.add(operations: 1)
            return bound.value.handler.call(.queueDelete(QueueDelete(queue: name)), channel: 1)
        }.whenComplete { result in
            switch result {
            case .success:
                bound.value.meter.add(secondaryOperations: 1)
                bound.value.declareNext()
            case .failure(let error):
                if !bound.value.stopped { bound.value.meter.record(error: "queue churn: \(error)") }
                bound.value.finished.succeed()
            }
        }
    }
}
