import AMQPProtocol
import Testing

@testable import WarrenCore

/// While a connection moves to another event loop its session holds its output; once resumed,
/// the new sink receives everything held, in order, before anything that follows.
@Suite struct SessionHandoverTests {
    let vhost = makeVHost()

    @Test func heldOutputReachesTheNewSinkFirstAndInOrder() {
        let publisher = TestClient(vhost, id: 1)
        let consumer = TestClient(vhost, id: 2)
        publisher.openChannel()
        publisher.declareQueue("q")
        consumer.openChannel()
        _ = consumer.consume("q", tag: "c", noAck: true)
        #expect(publisher.publish("1", routingKey: "q") == [])
        #expect(consumer.log.take().map(\.summary) == ["1:deliver c #1 1"])

        let completedBefore = consumer.log.completedBatches
        consumer.session.holdOutput()
        publisher.publish("2", routingKey: "q")
        publisher.publish("3", routingKey: "q")
        consumer.send(.method(channel: 1, .basicQos(BasicQos(prefetchCount: 5))))
        // Nothing reaches the old sink while held, not even the completion of its own batch.
        #expect(consumer.log.items.isEmpty)
        #expect(consumer.log.completedBatches == completedBefore)

        let moved = OutputLog()
        consumer.session.resumeOutput { output, batches in
            moved.items.append(contentsOf: output)
            moved.completedBatches += batches
        }
        #expect(
            moved.take().map(\.summary) == ["1:deliver c #2 2", "1:deliver c #3 3", "1:basic.qos-ok"])
        #expect(moved.completedBatches == 1)
        publisher.publish("4", routingKey: "q")
        #expect(moved.take().map(\.summary) == ["1:deliver c #4 4"])
        #expect(consumer.log.items.isEmpty)
    }
}
