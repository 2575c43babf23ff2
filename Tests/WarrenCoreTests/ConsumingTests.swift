import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// basic.consume and basic.cancel: ordering, round-robin, cancellation, tags and exclusivity.
@Suite struct ConsumingTests {
    let vhost = makeVHost()

    func client(
        _ id: UInt64 = 1, capabilities: ClientCapabilities = ClientCapabilities(consumerCancelNotify: true)
    )
        -> TestClient
    {
        let c = TestClient(vhost, id: id, capabilities: capabilities)
        c.openChannel()
        return c
    }

    @Test func consumeOkPrecedesDeliveriesOfQueuedMessages() {
        let c = client()
        c.declareQueue("q")
        c.publish("a", "b", routingKey: "q")
        #expect(c.consume("q", tag: "c") == ["1:basic.consume-ok c", "1:deliver c #1 a", "1:deliver c #2 b"])
    }

    @Test func consumeAndPublishInOneBatchSendsConsumeOkFirst() {
        let c = client()
        c.declareQueue("q")
        let out = c.send([
            .method(channel: 1, .basicConsume(BasicConsume(queue: "q", consumerTag: "c"))),
            c.publishCommand("a", routingKey: "q"),
        ]).map(\.summary)
        #expect(out == ["1:basic.consume-ok c", "1:deliver c #1 a"])
    }

    @Test func deliveryCarriesExchangeRoutingKeyPropertiesAndBodyUnchanged() throws {
        let c = client()
        c.declareQueue("q")
        c.call(.queueBind(QueueBind(queue: "q", exchange: "amq.direct", routingKey: "rk")))
        _ = c.consume("q", tag: "c")
        let properties = BasicProperties(
            contentType: "text/plain", headers: ["h": .int32(1)], deliveryMode: 2, correlationID: "cid",
            messageID: "mid", appID: "app")
        let out = c.send(c.publishCommand("payload", exchange: "amq.direct", routingKey: "rk", properties: properties))
        #expect(out.count == 1)
        guard case .deliver(let channel, let tag, let deliveryTag, let redelivered, let message) = out.first else {
            Issue.record("expected a delivery, got \(out.map(\.summary))")
            return
        }
        #expect(channel == 1 && tag == "c" && deliveryTag == 1 && !redelivered)
        #expect(message.exchange == "amq.direct")
        #expect(message.routingKey == "rk")
        #expect(try message.properties.decode() == properties)
        #expect(message.bodyString == "payload")
    }

    @Test func twoConsumersOnOneQueueShareMessagesRoundRobin() {
        let c = client()
        c.declareQueue("q")
        c.openChannel(2)
        _ = c.consume("q", tag: "c1", channel: 1)
        _ = c.consume("q", tag: "c2", channel: 2)
        #expect(
            c.publish("a", "b", "c", "d", routingKey: "q") == [
                "1:deliver c1 #1 a", "2:deliver c2 #1 b", "1:deliver c1 #2 c", "2:deliver c2 #2 d",
            ])
        // The rotation carries on across batches.
        #expect(c.publish("e", routingKey: "q") == ["1:deliver c1 #3 e"])
        #expect(c.publish("f", routingKey: "q") == ["2:deliver c2 #3 f"])
    }

    @Test func roundRobinContinuesWithTheNextConsumerWhenOneCancels() {
        let c = client()
        c.declareQueue("q")
        for tag in ["c1", "c2", "c3"] { _ = c.consume("q", tag: tag) }
        #expect(c.publish("a", routingKey: "q") == ["1:deliver c1 #1 a"])
        c.call(.basicCancel(BasicCancel(consumerTag: "c1")))
        #expect(
            c.publish("b", "c", "d", routingKey: "q") == [
                "1:deliver c2 #2 b", "1:deliver c3 #3 c", "1:deliver c2 #4 d",
            ])
    }

    @Test func roundRobinAcrossSessions() {
        let c1 = client(1)
        c1.declareQueue("q")
        let c2 = client(2)
        _ = c1.consume("q", tag: "a")
        _ = c2.consume("q", tag: "b")
        let publisher = client(3)
        publisher.publish("1", "2", "3", "4", routingKey: "q")
        #expect(deliveredBodies(c1.log.take().map(\.summary)) == ["1", "3"])
        #expect(deliveredBodies(c2.log.take().map(\.summary)) == ["2", "4"])
    }

    @Test func emptyConsumerTagGetsAServerGeneratedOne() {
        let c = client()
        c.declareQueue("q")
        let out = c.consume("q", tag: "")
        #expect(out.count == 1)
        #expect(out.first?.hasPrefix("1:basic.consume-ok amq.ctag-") == true)
    }

    @Test func consumingFromAMissingQueueIsNotFound() {
        let c = client()
        #expect(c.consume("nope", tag: "c") == ["1:channel.close 404 60/20"])
    }

    @Test func cancelStopsDeliveriesAndLeavesMessagesInTheQueue() {
        let c = client()
        c.declareQueue("q")
        _ = c.consume("q", tag: "c")
        #expect(c.call(.basicCancel(BasicCancel(consumerTag: "c"))) == ["1:basic.cancel-ok c"])
        #expect(c.publish("a", routingKey: "q") == [])
        #expect(c.get("q") == ["1:get-ok #1 a left=0"])
    }

    @Test func cancelOfUnknownTagStillReplies() {
        let c = client()
        #expect(c.call(.basicCancel(BasicCancel(consumerTag: "never"))) == ["1:basic.cancel-ok never"])
        #expect(c.call(.basicCancel(BasicCancel(consumerTag: "never", noWait: true))) == [])
    }

    @Test func cancelledConsumersUnackedDeliveriesCanStillBeAcked() {
        let c = client()
        c.declareQueue("q")
        c.publish("a", routingKey: "q")
        _ = c.consume("q", tag: "c")
        c.call(.basicCancel(BasicCancel(consumerTag: "c")))
        #expect(c.ack(1) == [])
        #expect(c.call(.channelClose(ChannelClose())) == ["1:channel.close-ok"])
        c.openChannel(2)
        #expect(c.get("q", channel: 2) == ["2:basic.get-empty"])
    }

    @Test func cancelledConsumersUnackedDeliveriesAreRequeuedOnChannelClose() {
        let c = client()
        c.declareQueue("q")
        c.publish("a", routingKey: "q")
        _ = c.consume("q", tag: "c")
        c.call(.basicCancel(BasicCancel(consumerTag: "c")))
        c.call(.channelClose(ChannelClose()))
        c.openChannel(2)
        #expect(c.get("q", channel: 2) == ["2:get-ok #1 a left=0 redelivered"])
    }

    @Test func deletingTheQueueSendsBasicCancelToItsConsumers() {
        let consumer = client(1)
        consumer.declareQueue("q")
        _ = consumer.consume("q", tag: "c")
        let admin = client(2)
        #expect(admin.call(.queueDelete(QueueDelete(queue: "q"))) == ["1:queue.delete-ok 0"])
        #expect(consumer.log.take().map(\.summary) == ["1:basic.cancel c no-wait"])
        // The tag is free again.
        consumer.declareQueue("q2")
        #expect(consumer.consume("q2", tag: "c") == ["1:basic.consume-ok c"])
    }

    @Test func deletingTheQueueOnTheConsumersOwnChannelNotifiesToo() {
        let c = client()
        c.declareQueue("q")
        _ = c.consume("q", tag: "c")
        let out = c.call(.queueDelete(QueueDelete(queue: "q")))
        #expect(out.contains("1:basic.cancel c no-wait"))
        #expect(out.contains("1:queue.delete-ok 0"))
        #expect(out.count == 2)
    }

    @Test func clientsWithoutCancelNotifyAreNotToldOfQueueDeletion() {
        let consumer = client(1, capabilities: ClientCapabilities())
        consumer.declareQueue("q")
        _ = consumer.consume("q", tag: "c")
        let admin = client(2)
        admin.call(.queueDelete(QueueDelete(queue: "q")))
        #expect(consumer.log.take().isEmpty)
        // The consumer is gone all the same: its tag can be reused.
        consumer.declareQueue("q2")
        #expect(consumer.consume("q2", tag: "c") == ["1:basic.consume-ok c"])
    }

    @Test func reusingAConsumerTagOnTheSameChannelClosesTheConnectionWith530() {
        let c = client()
        c.declareQueue("q1")
        c.declareQueue("q2")
        _ = c.consume("q1", tag: "dup")
        #expect(c.consume("q2", tag: "dup") == ["connection.close 530 60/20"])
        // Nothing more is processed on the connection.
        #expect(c.publish("x", routingKey: "q1") == [])
    }

    @Test func theSameConsumerTagOnTwoChannelsIsAllowed() {
        let c = client()
        c.declareQueue("q")
        c.openChannel(2)
        #expect(c.consume("q", tag: "t", channel: 1) == ["1:basic.consume-ok t"])
        #expect(c.consume("q", tag: "t", channel: 2) == ["2:basic.consume-ok t"])
    }

    @Test func exclusiveConsumerLocksOutOtherConsumersWith403() {
        let c1 = client(1)
        c1.declareQueue("q")
        #expect(c1.consume("q", tag: "ex", exclusive: true) == ["1:basic.consume-ok ex"])
        let c2 = client(2)
        #expect(c2.consume("q", tag: "other") == ["1:channel.close 403 60/20"])
        // Once the exclusive consumer cancels, others may consume.
        c1.call(.basicCancel(BasicCancel(consumerTag: "ex")))
        c2.openChannel(2)
        #expect(c2.consume("q", tag: "other", channel: 2) == ["2:basic.consume-ok other"])
    }

    @Test func exclusiveConsumeOnAQueueWithConsumersIsRefusedWith403() {
        let c1 = client(1)
        c1.declareQueue("q")
        _ = c1.consume("q", tag: "shared")
        let c2 = client(2)
        #expect(c2.consume("q", tag: "ex", exclusive: true) == ["1:channel.close 403 60/20"])
    }

    @Test func noAckConsumerNeedsNoAcknowledgement() {
        let c = client()
        c.declareQueue("q")
        c.publish("a", "b", routingKey: "q")
        #expect(
            c.consume("q", tag: "c", noAck: true) == ["1:basic.consume-ok c", "1:deliver c #1 a", "1:deliver c #2 b"])
        // Acking a no-ack delivery is an unknown tag.
        #expect(c.ack(1) == ["1:channel.close 406 60/80"])
        // Nothing comes back when the channel is gone.
        c.openChannel(2)
        #expect(c.get("q", channel: 2) == ["2:basic.get-empty"])
    }

    @Test func noWaitConsumeSendsNoConsumeOk() {
        let c = client()
        c.declareQueue("q")
        c.publish("a", routingKey: "q")
        #expect(
            c.call(.basicConsume(BasicConsume(queue: "q", consumerTag: "c", noWait: true))) == ["1:deliver c #1 a"])
    }
}
