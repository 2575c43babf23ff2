import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// RabbitMQ's direct reply-to: the `amq.rabbitmq.reply-to` pseudo-queue.
@Suite struct DirectReplyToTests {
    let vhost = makeVHost()
    let requester: TestClient
    let server: TestClient

    init() {
        requester = TestClient(vhost, id: 1)
        requester.openChannel()
        server = TestClient(vhost, id: 2)
        server.openChannel()
        server.declareQueue("rpc")
        _ = server.consume("rpc", tag: "srv", noAck: true)
    }

    func consumeReplies(channel: UInt16 = 1) -> [String] {
        requester.call(
            .basicConsume(BasicConsume(queue: "amq.rabbitmq.reply-to", consumerTag: "replies", noAck: true)),
            channel: channel)
    }

    /// Sends a request and returns the message the server received.
    func request(_ body: String, correlationID: String = "42") throws -> Message {
        let out = requester.publish(
            body, routingKey: "rpc",
            properties: BasicProperties(correlationID: correlationID, replyTo: "amq.rabbitmq.reply-to"))
        #expect(out == [])
        let received = server.log.take()
        #expect(received.count == 1)
        return try #require(received.first?.message)
    }

    @Test func replyToIsRewrittenToAPrivateAddressAndTheReplyReachesTheRequester() throws {
        #expect(consumeReplies() == ["1:basic.consume-ok replies"])
        let req = try request("question")
        let properties = try req.properties.decode()
        let replyTo = try #require(properties.replyTo)
        #expect(replyTo.hasPrefix("amq.rabbitmq.reply-to."))
        #expect(replyTo.count > "amq.rabbitmq.reply-to.".count)
        #expect(properties.correlationID == "42")
        #expect(req.bodyString == "question")

        let out = server.publish(
            "answer", routingKey: replyTo, properties: BasicProperties(correlationID: properties.correlationID))
        #expect(out == [])
        let replies = requester.log.take()
        #expect(replies.map(\.summary) == ["1:deliver replies #1 answer"])
        #expect(try replies.first?.message?.properties.decode().correlationID == "42")
    }

    @Test func eachRequesterChannelGetsItsOwnAddress() throws {
        _ = consumeReplies()
        let other = TestClient(vhost, id: 3)
        other.openChannel()
        other.call(.basicConsume(BasicConsume(queue: "amq.rabbitmq.reply-to", consumerTag: "r", noAck: true)))
        let a = try request("from-1").properties.replyTo
        other.publish("from-3", routingKey: "rpc", properties: BasicProperties(replyTo: "amq.rabbitmq.reply-to"))
        let b = try #require(server.log.take().first?.message).properties.replyTo
        #expect(a != nil && b != nil && a != b)
        server.publish("for-3", routingKey: b!)
        #expect(other.log.take().map(\.summary) == ["1:deliver r #1 for-3"])
        #expect(requester.log.take().isEmpty)
    }

    @Test func publishingWithReplyToBeforeConsumingIs406() {
        #expect(
            requester.publish("q", routingKey: "rpc", properties: BasicProperties(replyTo: "amq.rabbitmq.reply-to"))
                == ["1:channel.close 406 60/40"])
        #expect(server.log.take().isEmpty)
    }

    @Test func replyToMustBeUsedOnTheChannelThatConsumesIt() {
        _ = consumeReplies(channel: 1)
        requester.openChannel(2)
        #expect(
            requester.publish(
                "q", routingKey: "rpc", channel: 2, properties: BasicProperties(replyTo: "amq.rabbitmq.reply-to"))
                == ["2:channel.close 406 60/40"])
    }

    @Test func replyConsumerMustBeNoAck() {
        #expect(
            requester.call(.basicConsume(BasicConsume(queue: "amq.rabbitmq.reply-to", consumerTag: "r")))
                == ["1:channel.close 406 60/20"])
    }

    @Test func secondReplyConsumerOnAChannelIs406() {
        _ = consumeReplies()
        #expect(
            requester.call(
                .basicConsume(BasicConsume(queue: "amq.rabbitmq.reply-to", consumerTag: "again", noAck: true)))
                == ["1:channel.close 406 60/20"])
    }

    @Test func replyPseudoQueueCanBeDeclared() {
        let out = requester.call(.queueDeclare(QueueDeclare(queue: "amq.rabbitmq.reply-to", passive: true)))
        #expect(out.count == 1)
        #expect(out.first?.hasPrefix("1:queue.declare-ok amq.rabbitmq.reply-to 0 ") == true, "\(out)")
    }

    @Test func replyToAGoneRequesterIsReturnedWhenMandatoryAndDroppedOtherwise() throws {
        _ = consumeReplies()
        let replyTo = try #require(try request("question").properties.replyTo)
        requester.call(.channelClose(ChannelClose()))
        #expect(server.publish("late", routingKey: replyTo) == [])
        #expect(server.publish("late", routingKey: replyTo, mandatory: true) == ["1:return 312 late"])
        #expect(requester.log.take().isEmpty)
    }

    @Test func cancellingTheReplyConsumerEndsTheAddress() throws {
        _ = consumeReplies()
        let replyTo = try #require(try request("question").properties.replyTo)
        #expect(requester.call(.basicCancel(BasicCancel(consumerTag: "replies"))) == ["1:basic.cancel-ok replies"])
        #expect(server.publish("late", routingKey: replyTo, mandatory: true) == ["1:return 312 late"])
        // And publishing with reply-to on that channel is refused again.
        #expect(
            requester.publish("q", routingKey: "rpc", properties: BasicProperties(replyTo: "amq.rabbitmq.reply-to"))
                == ["1:channel.close 406 60/40"])
    }

    @Test func replyToAnUnknownKeyIsReturnedWhenMandatory() {
        #expect(
            server.publish("x", routingKey: "amq.rabbitmq.reply-to.nosuchkey", mandatory: true)
                == ["1:return 312 x"])
    }

    @Test func replyConsumerTagCannotBeReusedForAQueueConsumer() {
        _ = consumeReplies()
        requester.declareQueue("mine")
        #expect(requester.consume("mine", tag: "replies") == ["connection.close 530 60/20"])
    }
}
