import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// x-single-active-consumer: only the first consumer receives; when it goes, the next in
/// registration order takes over, and what the first left unacked comes back to it first.
@Suite struct SingleActiveConsumerTests {
    let vhost = makeVHost()
    let a: TestClient
    let b: TestClient

    init() {
        a = TestClient(vhost, id: 1)
        a.openChannel()
        b = TestClient(vhost, id: 2)
        b.openChannel()
        let out = a.call(
            .queueDeclare(QueueDeclare(queue: "q", arguments: ["x-single-active-consumer": .boolean(true)])))
        #expect(out == ["1:queue.declare-ok q 0 0"])
    }

    func qos(_ client: TestClient, _ count: UInt16) {
        #expect(client.call(.basicQos(BasicQos(prefetchCount: count))) == ["1:basic.qos-ok"])
    }

    func statuses() -> [String] {
        (a.session.consumerSummaries + b.session.consumerSummaries).map {
            "\($0.consumerTag) \($0.active) \($0.activityStatus)"
        }
    }

    @Test func onlyTheFirstConsumerReceivesAndTheOthersWaitSilently() {
        #expect(a.consume("q", tag: "first") == ["1:basic.consume-ok first"])
        // A waiting consumer gets its consume-ok and nothing else.
        #expect(b.consume("q", tag: "second") == ["1:basic.consume-ok second"])
        a.publish("m0", "m1", "m2", routingKey: "q")
        #expect(deliveredBodies(a.log.take().map(\.summary)).isEmpty)
        #expect(b.log.take().isEmpty)
        #expect(vhost.queues["q"]?.consumerCount == 2)
        #expect(statuses() == ["first true single_active", "second false waiting"])
    }

    @Test func deliveriesGoToTheActiveConsumerOnly() {
        _ = a.consume("q", tag: "first", noAck: true)
        _ = b.consume("q", tag: "second", noAck: true)
        #expect(deliveredBodies(a.publish("m0", "m1", "m2", routingKey: "q")) == ["m0", "m1", "m2"])
        #expect(b.log.take().isEmpty)
    }

    @Test func whenTheActiveConsumerCloseItsUnackedComeFirstToTheNext() {
        qos(a, 2)
        _ = a.consume("q", tag: "first")
        _ = b.consume("q", tag: "second", noAck: true)
        #expect(deliveredBodies(a.publish("m0", "m1", "m2", "m3", routingKey: "q")) == ["m0", "m1"])
        a.close()
        #expect(
            b.log.take().map(\.summary) == [
                "1:deliver second #1 m0 redelivered", "1:deliver second #2 m1 redelivered", "1:deliver second #3 m2",
                "1:deliver second #4 m3",
            ])
        #expect(statuses() == ["second true single_active"])
    }

    @Test func cancelledActiveConsumerHandsOverOnceItsDeliveriesAreSettled() {
        qos(a, 2)
        _ = a.consume("q", tag: "first")
        _ = b.consume("q", tag: "second", noAck: true)
        #expect(deliveredBodies(a.publish("m0", "m1", "m2", routingKey: "q")) == ["m0", "m1"])
        #expect(a.call(.basicCancel(BasicCancel(consumerTag: "first"))) == ["1:basic.cancel-ok first"])
        // The next one is active, but receives only once m0 and m1 are settled.
        #expect(statuses() == ["second true single_active"])
        #expect(b.log.take().isEmpty)
        // The cancelled consumer's deliveries can still be acked on its channel.
        #expect(a.ack(1) == [])
        #expect(b.log.take().isEmpty)
        #expect(a.call(.basicNack(BasicNack(deliveryTag: 2, requeue: true))) == [])
        #expect(
            b.log.take().map(\.summary) == ["1:deliver second #1 m1 redelivered", "1:deliver second #2 m2"])
        #expect(vhost.queues["q"]?.unacknowledged == 0)
    }

    @Test func cancelThenCloseRequeuesTheUnackedFirst() {
        // What pika does on close: basic.cancel, then channel.close.
        qos(a, 2)
        _ = a.consume("q", tag: "first")
        _ = b.consume("q", tag: "second", noAck: true)
        #expect(deliveredBodies(a.publish("m0", "m1", "m2", "m3", routingKey: "q")) == ["m0", "m1"])
        a.call(.basicCancel(BasicCancel(consumerTag: "first")))
        #expect(b.log.take().isEmpty)
        a.call(.channelClose(ChannelClose(replyCode: 200, replyText: "", classID: 0, methodID: 0)))
        #expect(deliveredBodies(b.log.take().map(\.summary)) == ["m0", "m1", "m2", "m3"])
    }

    @Test func cancelledNoAckActiveConsumerHandsOverAtOnce() {
        _ = a.consume("q", tag: "first", noAck: true)
        _ = b.consume("q", tag: "second", noAck: true)
        a.call(.basicCancel(BasicCancel(consumerTag: "first")))
        #expect(deliveredBodies(a.publish("m0", routingKey: "q")).isEmpty)
        #expect(deliveredBodies(b.log.take().map(\.summary)) == ["m0"])
    }

    @Test func aWaitingConsumerLeavingChangesNothing() {
        _ = a.consume("q", tag: "first", noAck: true)
        _ = b.consume("q", tag: "second", noAck: true)
        let c = TestClient(vhost, id: 3)
        c.openChannel()
        _ = c.consume("q", tag: "third", noAck: true)
        #expect(b.call(.basicCancel(BasicCancel(consumerTag: "second"))) == ["1:basic.cancel-ok second"])
        #expect(deliveredBodies(a.publish("m0", routingKey: "q")) == ["m0"])
        a.close()
        a.log.take()
        #expect(deliveredBodies(c.publish("m1", routingKey: "q")) == ["m1"])
        #expect(c.session.consumerSummaries.map(\.activityStatus) == ["single_active"])
    }

    @Test func theActiveConsumerBlockedByPrefetchHoldsTheQueue() {
        qos(a, 1)
        _ = a.consume("q", tag: "first")
        _ = b.consume("q", tag: "second", noAck: true)
        #expect(deliveredBodies(a.publish("m0", "m1", routingKey: "q")) == ["m0"])
        #expect(b.log.take().isEmpty)
        #expect(vhost.queues["q"]?.messageCount == 1)
        #expect(a.ack(1) == ["1:deliver first #2 m1"])
    }

    @Test func exclusiveConsumersAreRefused() {
        #expect(a.consume("q", tag: "x", exclusive: true) == ["1:channel.close 403 60/20"])
    }

    @Test func argumentMustBeABoolean() {
        func refusal(_ value: FieldValue) -> String? {
            do {
                try QueueArguments.validateConsumptionArguments(
                    ["x-single-active-consumer": value], queue: "s", vhost: "/")
                return nil
            } catch {
                return error.text
            }
        }
        let prefix = "PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue 's' in vhost '/': "
        #expect(refusal(.string("abc")) == prefix + "{unacceptable_type,longstr}")
        #expect(refusal(.int32(1)) == prefix + "{unacceptable_type,signedint}")
        #expect(refusal(.boolean(false)) == nil)
        #expect(vhost.queues["q"]?.isSingleActiveConsumer == true)
    }

    @Test func plainQueueConsumersAreAllUp() {
        a.declareQueue("plain")
        _ = a.consume("plain", tag: "x", exclusive: true)
        #expect(a.session.consumerSummaries.map { "\($0.active) \($0.activityStatus)" } == ["true up"])
    }
}
