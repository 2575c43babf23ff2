import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// basic.ack / nack / reject / recover, basic.get, and what happens to unacknowledged
/// deliveries when a channel or connection goes away.
@Suite struct AcknowledgementTests {
    let vhost = makeVHost()
    let c: TestClient

    init() {
        c = TestClient(vhost)
        c.openChannel()
        c.declareQueue("q")
    }

    /// What is left in "q", read with basic.get no-ack on a fresh channel.
    func remaining(channel: UInt16 = 9) -> [String] {
        c.openChannel(channel)
        var bodies: [String] = []
        while true {
            let out = c.send(.method(channel: channel, .basicGet(BasicGet(queue: "q", noAck: true))))
            guard case .getOk(_, _, let redelivered, _, let message) = out.first else { break }
            bodies.append(message.bodyString + (redelivered ? "*" : ""))
        }
        return bodies
    }

    // MARK: basic.get

    @Test func basicGetReportsTheMessagesLeftAndGetEmptyWhenDrained() {
        c.publish("a", "b", "c", routingKey: "q")
        #expect(c.get("q") == ["1:get-ok #1 a left=2"])
        #expect(c.get("q") == ["1:get-ok #2 b left=1"])
        #expect(c.get("q") == ["1:get-ok #3 c left=0"])
        #expect(c.get("q") == ["1:basic.get-empty"])
    }

    @Test func basicGetFromMissingQueueIsNotFound() {
        #expect(c.get("nope") == ["1:channel.close 404 60/70"])
    }

    @Test func basicGetNoAckNeedsNoAcknowledgement() {
        c.publish("a", routingKey: "q")
        #expect(c.get("q", noAck: true) == ["1:get-ok #1 a left=0"])
        #expect(c.ack(1) == ["1:channel.close 406 60/80"])
        #expect(remaining() == [])
    }

    @Test func consumerAndGetShareTheChannelsDeliveryTags() {
        c.declareQueue("other")
        c.publish("a", routingKey: "other")
        c.publish("x", routingKey: "q")
        #expect(c.get("q") == ["1:get-ok #1 x left=0"])
        #expect(c.consume("other", tag: "c") == ["1:basic.consume-ok c", "1:deliver c #2 a"])
    }

    // MARK: ack

    @Test func ackedMessagesAreGoneForGood() {
        c.publish("a", "b", routingKey: "q")
        _ = c.consume("q", tag: "c")
        #expect(c.ack(1) == [])
        #expect(c.call(.channelClose(ChannelClose())) == ["1:channel.close-ok"])
        #expect(remaining() == ["b*"])
    }

    @Test func ackMultipleAcksEverythingUpToTheTag() {
        c.publish("a", "b", "c", "d", routingKey: "q")
        for _ in 0..<4 { _ = c.get("q") }
        #expect(c.ack(3, multiple: true) == [])
        #expect(c.ack(2) == ["1:channel.close 406 60/80"])
        #expect(remaining() == ["d*"])
    }

    @Test func ackMultipleSkipsTagsAlreadyAcked() {
        c.publish("a", "b", "c", "d", routingKey: "q")
        for _ in 0..<4 { _ = c.get("q") }
        #expect(c.ack(3) == [])
        #expect(c.ack(4, multiple: true) == [])
        #expect(c.call(.channelClose(ChannelClose())) == ["1:channel.close-ok"])
        #expect(remaining() == [])
    }

    @Test func ackMultipleWithTagZeroAcksEverything() {
        c.publish("a", "b", "c", routingKey: "q")
        _ = c.consume("q", tag: "c")
        #expect(c.ack(0, multiple: true) == [])
        #expect(c.call(.channelClose(ChannelClose())) == ["1:channel.close-ok"])
        #expect(remaining() == [])
    }

    @Test func ackWithTagZeroWithoutMultipleIsAnUnknownTag() {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        #expect(c.ack(0) == ["1:channel.close 406 60/80"])
    }

    @Test(arguments: [
        (AMQPMethod.basicAck(BasicAck(deliveryTag: 99)), "60/80"),
        (AMQPMethod.basicAck(BasicAck(deliveryTag: 99, multiple: true)), "60/80"),
        (AMQPMethod.basicNack(BasicNack(deliveryTag: 99, requeue: true)), "60/120"),
        (AMQPMethod.basicReject(BasicReject(deliveryTag: 99, requeue: true)), "60/90"),
    ])
    func unknownDeliveryTagClosesTheChannelWith406(_ method: AMQPMethod, _ ids: String) {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        #expect(c.call(method) == ["1:channel.close 406 \(ids)"])
        // The channel error requeued the outstanding delivery.
        #expect(remaining() == ["a*"])
    }

    @Test func ackingTheSameTagTwiceIs406() {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        #expect(c.ack(1) == [])
        #expect(c.ack(1) == ["1:channel.close 406 60/80"])
    }

    @Test func deliveryTagsAreScopedToTheirChannel() {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        c.openChannel(2)
        #expect(c.ack(1, channel: 2) == ["2:channel.close 406 60/80"])
        #expect(c.ack(1, channel: 1) == [])
    }

    // MARK: reject / nack

    @Test func rejectWithRequeueRedeliversWithTheRedeliveredFlag() {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        #expect(c.call(.basicReject(BasicReject(deliveryTag: 1, requeue: true))) == [])
        #expect(c.get("q") == ["1:get-ok #2 a left=0 redelivered"])
    }

    @Test func rejectWithoutRequeueDropsTheMessage() {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        #expect(c.call(.basicReject(BasicReject(deliveryTag: 1, requeue: false))) == [])
        #expect(c.get("q") == ["1:basic.get-empty"])
    }

    @Test func nackMultipleWithoutRequeueDropsThemAll() {
        c.publish("a", "b", "c", routingKey: "q")
        for _ in 0..<3 { _ = c.get("q") }
        #expect(c.call(.basicNack(BasicNack(deliveryTag: 2, multiple: true, requeue: false))) == [])
        #expect(c.call(.channelClose(ChannelClose())) == ["1:channel.close-ok"])
        #expect(remaining() == ["c*"])
    }

    @Test func nackWithRequeuePreservesOriginalOrder() {
        c.publish("a", "b", "c", "d", "e", routingKey: "q")
        #expect(c.get("q") == ["1:get-ok #1 a left=4"])
        #expect(c.get("q") == ["1:get-ok #2 b left=3"])
        #expect(c.get("q") == ["1:get-ok #3 c left=2"])
        // Requeued out of order, they go back to their original places, before d and e.
        c.call(.basicNack(BasicNack(deliveryTag: 3, requeue: true)))
        c.call(.basicNack(BasicNack(deliveryTag: 1, requeue: true)))
        #expect(c.get("q") == ["1:get-ok #4 a left=3 redelivered"])
        #expect(c.get("q") == ["1:get-ok #5 c left=2 redelivered"])
        #expect(c.get("q") == ["1:get-ok #6 d left=1"])
        #expect(c.get("q") == ["1:get-ok #7 e left=0"])
    }

    @Test func nackMultipleWithRequeueRedeliversToTheConsumerInOrder() {
        _ = c.consume("q", tag: "c")
        #expect(
            c.publish("a", "b", "c", routingKey: "q") == ["1:deliver c #1 a", "1:deliver c #2 b", "1:deliver c #3 c"])
        #expect(
            c.call(.basicNack(BasicNack(deliveryTag: 0, multiple: true, requeue: true))) == [
                "1:deliver c #4 a redelivered", "1:deliver c #5 b redelivered", "1:deliver c #6 c redelivered",
            ])
    }

    @Test func requeuedMessageGoesBeforeNewerReadyMessages() {
        c.publish("a", "b", routingKey: "q")
        _ = c.get("q")
        c.publish("c", routingKey: "q")
        c.call(.basicReject(BasicReject(deliveryTag: 1, requeue: true)))
        #expect(remaining() == ["a*", "b", "c"])
    }

    @Test func requeueFromTwoQueuesGoesBackToEach() {
        c.declareQueue("q2")
        c.publish("a", routingKey: "q")
        c.publish("b", routingKey: "q2")
        _ = c.get("q")
        _ = c.get("q2")
        c.call(.basicNack(BasicNack(deliveryTag: 2, multiple: true, requeue: true)))
        #expect(c.get("q") == ["1:get-ok #3 a left=0 redelivered"])
        #expect(c.get("q2") == ["1:get-ok #4 b left=0 redelivered"])
    }

    // MARK: recover

    @Test func recoverWithRequeueRedeliversUnackedMessages() {
        _ = c.consume("q", tag: "c")
        c.publish("a", "b", "c", routingKey: "q")
        c.ack(2)
        #expect(
            c.call(.basicRecover(BasicRecover(requeue: true))) == [
                "1:basic.recover-ok", "1:deliver c #4 a redelivered", "1:deliver c #5 c redelivered",
            ])
    }

    @Test func recoverAsyncRequeuesWithoutAReply() {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        #expect(c.call(.basicRecoverAsync(BasicRecoverAsync(requeue: true))) == [])
        #expect(c.get("q") == ["1:get-ok #2 a left=0 redelivered"])
    }

    @Test func recoverWithoutRequeueIsNotImplementedAsInRabbitMQ() {
        #expect(c.call(.basicRecover(BasicRecover(requeue: false))) == ["connection.close 540 60/110"])
    }

    // MARK: Closing

    @Test func channelCloseRequeuesUnackedMessagesInOrder() {
        c.publish("a", "b", "c", "d", routingKey: "q")
        _ = c.consume("q", tag: "c")
        c.ack(2)
        #expect(c.call(.channelClose(ChannelClose())) == ["1:channel.close-ok"])
        #expect(remaining() == ["a*", "c*", "d*"])
    }

    @Test func channelCloseRequeuedMessagesGoToTheRemainingConsumer() {
        c.openChannel(2)
        _ = c.consume("q", tag: "first", channel: 1)
        #expect(c.publish("a", "b", routingKey: "q") == ["1:deliver first #1 a", "1:deliver first #2 b"])
        _ = c.consume("q", tag: "second", channel: 2)
        #expect(
            c.call(.channelClose(ChannelClose()), channel: 1) == [
                "1:channel.close-ok", "2:deliver second #1 a redelivered", "2:deliver second #2 b redelivered",
            ])
    }

    @Test func channelErrorRequeuesUnackedMessages() {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        #expect(c.ack(42) == ["1:channel.close 406 60/80"])
        #expect(c.call(.channelCloseOk(ChannelCloseOk())) == [])
        #expect(remaining() == ["a*"])
    }

    @Test func connectionCloseRequeuesUnackedMessages() {
        c.publish("a", "b", routingKey: "q")
        _ = c.get("q")
        _ = c.get("q")
        c.close()
        let other = TestClient(vhost, id: 2)
        other.openChannel()
        #expect(other.get("q") == ["1:get-ok #1 a left=1 redelivered"])
        #expect(other.get("q") == ["1:get-ok #2 b left=0 redelivered"])
    }

    @Test func messagesOfADeletedQueueAreNotRequeuedAnywhere() {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        c.openChannel(2)
        c.call(.queueDelete(QueueDelete(queue: "q")), channel: 2)
        // Acking or requeueing a delivery from the deleted queue is harmless.
        #expect(c.call(.basicReject(BasicReject(deliveryTag: 1, requeue: true))) == [])
        c.declareQueue("q", channel: 2)
        #expect(c.get("q", channel: 2) == ["2:basic.get-empty"])
    }
}
