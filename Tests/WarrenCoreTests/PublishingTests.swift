import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// basic.publish: what is accepted, refused, returned or dropped.
@Suite struct PublishingTests {
    let vhost = makeVHost()
    let c: TestClient

    init() {
        c = TestClient(vhost, user: "alice")
        c.openChannel()
        c.declareQueue("q")
    }

    @Test func userIDMatchingTheLoginIsAccepted() {
        #expect(c.publish("a", routingKey: "q", properties: BasicProperties(userID: "alice")) == [])
        #expect(c.get("q") == ["1:get-ok #1 a left=0"])
    }

    @Test func userIDOfAnotherUserIsRefusedWith406() {
        #expect(
            c.publish("a", routingKey: "q", properties: BasicProperties(userID: "mallory")) == [
                "1:channel.close 406 60/40"
            ])
        c.openChannel(2)
        #expect(c.get("q", channel: 2) == ["2:basic.get-empty"])
    }

    @Test func publishingToAnInternalExchangeIsRefusedWith403() throws {
        try vhost.makeExchange("internal", .fanout, isInternal: true)
        try vhost.bindQueue("q", to: "internal")
        #expect(c.publish("a", exchange: "internal", routingKey: "") == ["1:channel.close 403 60/40"])
    }

    @Test func internalExchangeStillRoutesWhatOtherExchangesForwardToIt() throws {
        try vhost.makeExchange("internal", .fanout, isInternal: true)
        try vhost.makeExchange("public", .direct)
        try vhost.bind(destination: "internal", source: "public", routingKey: "k", arguments: [:])
        try vhost.bindQueue("q", to: "internal")
        #expect(c.publish("a", exchange: "public", routingKey: "k") == [])
        #expect(c.get("q") == ["1:get-ok #1 a left=0"])
    }

    @Test func publishingToAMissingExchangeIs404() {
        #expect(c.publish("a", exchange: "nope", routingKey: "q") == ["1:channel.close 404 60/40"])
    }

    @Test func immediatePublishIsNotImplemented() {
        let out = c.send(
            .publish(
                channel: 1, mandatory: false, immediate: true,
                message: Message(exchange: "", routingKey: "q", properties: .empty, body: ByteBuffer(string: "a"))))
        #expect(out.map(\.summary) == ["connection.close 540 60/40"])
    }

    @Test func unroutableMandatoryPublishIsReturnedWithItsContent() throws {
        let properties = BasicProperties(contentType: "text/plain", messageID: "m1")
        let out = c.send(
            c.publishCommand(
                "body", exchange: "amq.direct", routingKey: "none", mandatory: true, properties: properties))
        guard case .returned(let channel, let code, let text, let message) = out.first, out.count == 1 else {
            Issue.record("expected one basic.return, got \(out.map(\.summary))")
            return
        }
        #expect(channel == 1)
        #expect(code == 312)
        #expect(text == "NO_ROUTE")
        #expect(message.exchange == "amq.direct")
        #expect(message.routingKey == "none")
        #expect(try message.properties.decode() == properties)
        #expect(message.bodyString == "body")
    }

    @Test func unroutableNonMandatoryPublishIsDroppedSilently() {
        #expect(c.publish("a", routingKey: "nowhere") == [])
        #expect(c.publish("a", exchange: "amq.topic", routingKey: "x.y") == [])
    }

    @Test func publishOnAnUnopenedChannelIsIgnored() {
        #expect(c.publish("a", routingKey: "q", channel: 7) == [])
        #expect(c.get("q") == ["1:basic.get-empty"])
    }

    @Test func emptyBodyIsDelivered() {
        #expect(c.publish("", routingKey: "q") == [])
        let out = c.send(.method(channel: 1, .basicGet(BasicGet(queue: "q"))))
        #expect(out.first?.message?.bodySize == 0)
    }

    @Test func aMessageRoutedToManyQueuesIsOneSharedMessage() throws {
        c.declareQueue("q2")
        c.call(.queueBind(QueueBind(queue: "q", exchange: "amq.fanout")))
        c.call(.queueBind(QueueBind(queue: "q2", exchange: "amq.fanout")))
        c.publish("shared", exchange: "amq.fanout", routingKey: "")
        let a = try #require(c.send(.method(channel: 1, .basicGet(BasicGet(queue: "q", noAck: true)))).first?.message)
        let b = try #require(c.send(.method(channel: 1, .basicGet(BasicGet(queue: "q2", noAck: true)))).first?.message)
        #expect(a === b)
    }

    @Test func queueKeepsPublishOrder() {
        let bodies = (1...50).map { "m\($0)" }
        c.send(bodies.map { c.publishCommand($0, routingKey: "q") })
        let out = c.consume("q", tag: "c", noAck: true)
        #expect(deliveredBodies(out) == bodies)
    }
}
