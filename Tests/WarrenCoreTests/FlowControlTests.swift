import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// channel.flow and socket writability: an unwritable socket pauses consumer deliveries
/// without losing messages.
@Suite struct FlowControlTests {
    let vhost = makeVHost()
    let c: TestClient

    init() {
        c = TestClient(vhost)
        c.openChannel()
        c.declareQueue("q")
        _ = c.consume("q", tag: "c")
    }

    @Test func channelFlowTrueIsAcknowledgedAndDeliveriesContinue() {
        #expect(c.call(.channelFlow(ChannelFlow(active: true))) == ["1:channel.flow-ok true"])
        #expect(c.publish("a", routingKey: "q") == ["1:deliver c #1 a"])
    }

    @Test func channelFlowFalseIsNotImplementedAsInRabbitMQ() {
        // RabbitMQ answers a client's channel.flow(active=false) with 540 NOT_IMPLEMENTED;
        // consumers limit themselves with basic.qos instead.
        #expect(c.call(.channelFlow(ChannelFlow(active: false))) == ["connection.close 540 20/20"])
    }

    @Test func unwritableSocketPausesDeliveriesUntilWritableAgain() {
        #expect(c.send(.writable(false)).isEmpty)
        #expect(c.publish("a", "b", routingKey: "q") == [])
        #expect(c.send(.writable(true)).map(\.summary) == ["1:deliver c #1 a", "1:deliver c #2 b"])
    }

    @Test func unwritableSocketPausesEveryChannelOfTheConnection() {
        c.openChannel(2)
        c.declareQueue("q2", channel: 2)
        _ = c.consume("q2", tag: "c2", channel: 2)
        c.send(.writable(false))
        c.publish("a", routingKey: "q")
        c.publish("b", routingKey: "q2")
        #expect(c.send(.writable(true)).map(\.summary).sorted() == ["1:deliver c #1 a", "2:deliver c2 #1 b"])
    }

    @Test func anotherConnectionsConsumerTakesOverWhileOneIsUnwritable() {
        let other = TestClient(vhost, id: 2)
        other.openChannel()
        _ = other.consume("q", tag: "o")
        c.send(.writable(false))
        c.publish("a", "b", routingKey: "q")
        #expect(deliveredBodies(other.log.take().map(\.summary)) == ["a", "b"])
        #expect(c.send(.writable(true)).isEmpty)
    }

    @Test func repliesAreStillSentWhileUnwritable() {
        c.send(.writable(false))
        #expect(c.call(.queueDeclare(QueueDeclare(queue: "q"))) == ["1:queue.declare-ok q 0 1"])
    }
}
