import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// confirm.select and the basic.ack confirms a publisher receives.
@Suite struct PublisherConfirmTests {
    let vhost = makeVHost()
    let c: TestClient

    init() {
        c = TestClient(vhost)
        c.openChannel()
        c.declareQueue("q")
        #expect(c.call(.confirmSelect(ConfirmSelect())) == ["1:confirm.select-ok"])
    }

    @Test func singlePublishIsConfirmedAlone() {
        #expect(c.publish("a", routingKey: "q") == ["1:basic.ack 1"])
        #expect(c.publish("b", routingKey: "q") == ["1:basic.ack 2"])
    }

    @Test func batchOfPublishesIsConfirmedByOneMultipleAck() {
        #expect(c.publish("a", "b", "c", routingKey: "q") == ["1:basic.ack 3 multiple"])
        #expect(c.publish("d", "e", routingKey: "q") == ["1:basic.ack 5 multiple"])
        #expect(c.publish("f", routingKey: "q") == ["1:basic.ack 6"])
    }

    @Test func unroutablePublishesAreConfirmedToo() {
        #expect(c.publish("lost", routingKey: "nowhere") == ["1:basic.ack 1"])
    }

    @Test func mandatoryUnroutablePublishIsReturnedBeforeItsAck() {
        #expect(c.publish("lost", routingKey: "nowhere", mandatory: true) == ["1:return 312 lost", "1:basic.ack 1"])
    }

    @Test func returnsInABatchAllPrecedeTheBatchAck() {
        let out = c.send([
            c.publishCommand("r1", routingKey: "nowhere", mandatory: true),
            c.publishCommand("ok", routingKey: "q", mandatory: true),
            c.publishCommand("r2", routingKey: "nowhere", mandatory: true),
        ]).map(\.summary)
        #expect(out == ["1:return 312 r1", "1:return 312 r2", "1:basic.ack 3 multiple"])
    }

    @Test func confirmsOfTwoChannelsAreCountedSeparately() {
        c.openChannel(2)
        c.call(.confirmSelect(ConfirmSelect(noWait: true)), channel: 2)
        let out = c.send([
            c.publishCommand("a", routingKey: "q", channel: 1),
            c.publishCommand("b", routingKey: "q", channel: 2),
            c.publishCommand("c", routingKey: "q", channel: 1),
        ]).map(\.summary)
        #expect(out.sorted() == ["1:basic.ack 2 multiple", "2:basic.ack 1"])
    }

    @Test func noWaitConfirmSelectSendsNoReplyButConfirms() {
        c.openChannel(2)
        #expect(c.call(.confirmSelect(ConfirmSelect(noWait: true)), channel: 2) == [])
        #expect(c.publish("a", routingKey: "q", channel: 2) == ["2:basic.ack 1"])
    }

    @Test func publishesBeforeAChannelErrorAreConfirmedBeforeTheClose() {
        let out = c.send([
            c.publishCommand("a", routingKey: "q"),
            c.publishCommand("b", exchange: "missing", routingKey: "q"),
        ]).map(\.summary)
        #expect(out == ["1:basic.ack 1", "1:channel.close 404 60/40"])
    }

    @Test func publishesBeforeAClientChannelCloseAreConfirmedBeforeCloseOk() {
        let out = c.send([
            c.publishCommand("a", routingKey: "q"),
            c.publishCommand("b", routingKey: "q"),
            .method(channel: 1, .channelClose(ChannelClose())),
        ]).map(\.summary)
        #expect(out == ["1:basic.ack 2 multiple", "1:channel.close-ok"])
    }

    @Test func confirmedMessagesAreDeliveredToConsumers() {
        c.openChannel(2)
        _ = c.consume("q", tag: "c", channel: 2)
        let out = c.publish("a", routingKey: "q")
        #expect(out.contains("2:deliver c #1 a"))
        #expect(out.contains("1:basic.ack 1"))
    }

    @Test func channelWithoutConfirmSelectGetsNoAcks() {
        c.openChannel(2)
        #expect(c.publish("a", routingKey: "q", channel: 2) == [])
    }
}
