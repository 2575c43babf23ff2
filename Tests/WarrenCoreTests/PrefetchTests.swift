import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// basic.qos: per-consumer (global=false) and per-channel (global=true) prefetch windows.
@Suite struct PrefetchTests {
    let vhost = makeVHost()
    let c: TestClient

    init() {
        c = TestClient(vhost)
        c.openChannel()
        c.declareQueue("q")
    }

    func qos(_ count: UInt16, global: Bool = false, channel: UInt16 = 1) {
        #expect(
            c.call(.basicQos(BasicQos(prefetchCount: count, global: global)), channel: channel)
                .first == "\(channel):basic.qos-ok")
    }

    func deliveries(_ out: [String]) -> Int { out.filter { $0.contains(":deliver ") }.count }

    @Test func perConsumerPrefetchLimitsUnackedDeliveries() {
        qos(2)
        _ = c.consume("q", tag: "c")
        #expect(c.publish("a", "b", "c", "d", "e", routingKey: "q") == ["1:deliver c #1 a", "1:deliver c #2 b"])
        #expect(c.ack(1) == ["1:deliver c #3 c"])
        #expect(c.ack(3, multiple: true) == ["1:deliver c #4 d", "1:deliver c #5 e"])
        #expect(c.ack(5, multiple: true) == [])
    }

    @Test func perConsumerPrefetchAppliesToEachConsumerSeparately() {
        qos(1)
        _ = c.consume("q", tag: "c1")
        _ = c.consume("q", tag: "c2")
        #expect(c.publish("a", "b", "c", "d", routingKey: "q") == ["1:deliver c1 #1 a", "1:deliver c2 #2 b"])
        #expect(c.ack(2) == ["1:deliver c2 #3 c"])
        #expect(c.ack(1) == ["1:deliver c1 #4 d"])
    }

    @Test func perConsumerQosOnlyAffectsConsumersCreatedAfterIt() {
        _ = c.consume("q", tag: "unlimited")
        qos(1)
        c.declareQueue("q2")
        _ = c.consume("q2", tag: "limited")
        #expect(deliveries(c.publish("a", "b", "c", routingKey: "q")) == 3)
        #expect(deliveries(c.publish("a", "b", "c", routingKey: "q2")) == 1)
    }

    @Test func globalPrefetchIsSharedByAllConsumersOfTheChannel() {
        qos(3, global: true)
        c.declareQueue("q2")
        _ = c.consume("q", tag: "c1")
        _ = c.consume("q2", tag: "c2")
        let first = c.send(
            ["a", "b", "c"].map { c.publishCommand($0, routingKey: "q") }
                + ["x", "y", "z"].map { c.publishCommand($0, routingKey: "q2") }
        ).map(\.summary)
        #expect(deliveries(first) == 3)
        #expect(deliveries(c.ack(1)) == 1)
        #expect(deliveries(c.ack(4, multiple: true)) == 2)
        #expect(deliveries(c.ack(0, multiple: true)) == 0)
    }

    @Test func globalPrefetchCountsDeliveriesOfEveryConsumerOnOneQueue() {
        qos(3, global: true)
        _ = c.consume("q", tag: "c1")
        _ = c.consume("q", tag: "c2")
        #expect(
            c.publish("a", "b", "c", "d", "e", "f", routingKey: "q") == [
                "1:deliver c1 #1 a", "1:deliver c2 #2 b", "1:deliver c1 #3 c",
            ])
        #expect(c.ack(2) == ["1:deliver c2 #4 d"])
        #expect(deliveries(c.ack(0, multiple: true)) == 2)
    }

    @Test func globalPrefetchOfOneChannelDoesNotLimitAnother() {
        qos(1, global: true, channel: 1)
        c.openChannel(2)
        _ = c.consume("q", tag: "limited", channel: 1)
        _ = c.consume("q", tag: "free", channel: 2)
        let out = c.publish("a", "b", "c", "d", routingKey: "q")
        #expect(out.filter { $0.hasPrefix("1:deliver") }.count == 1)
        #expect(out.filter { $0.hasPrefix("2:deliver") }.count == 3)
    }

    @Test func perConsumerAndGlobalPrefetchBothApply() {
        // Each consumer may hold 2, the channel 3 in all.
        qos(2, global: false)
        qos(3, global: true)
        _ = c.consume("q", tag: "c1")
        _ = c.consume("q", tag: "c2")
        #expect(
            c.publish("1", "2", "3", "4", "5", "6", "7", "8", routingKey: "q") == [
                "1:deliver c1 #1 1", "1:deliver c2 #2 2", "1:deliver c1 #3 3",
            ])
        // c1 holds 2 (its limit), c2 holds 1: freeing one of c1's lets c2 or c1 take one more.
        #expect(deliveries(c.ack(1)) == 1)
    }

    @Test func perConsumerLimitBitesBeforeAGenerousGlobalLimit() {
        qos(1, global: false)
        qos(10, global: true)
        _ = c.consume("q", tag: "c1")
        _ = c.consume("q", tag: "c2")
        #expect(c.publish("1", "2", "3", "4", routingKey: "q") == ["1:deliver c1 #1 1", "1:deliver c2 #2 2"])
    }

    @Test func zeroPrefetchMeansUnlimited() {
        qos(0)
        _ = c.consume("q", tag: "c")
        let bodies = (0..<100).map(String.init)
        let out = c.send(bodies.map { c.publishCommand($0, routingKey: "q") }).map(\.summary)
        #expect(deliveredBodies(out) == bodies)
    }

    @Test func noAckConsumersIgnorePrefetch() {
        qos(1)
        qos(1, global: true)
        _ = c.consume("q", tag: "c", noAck: true)
        #expect(deliveries(c.publish("a", "b", "c", "d", routingKey: "q")) == 4)
    }

    @Test func raisingTheGlobalLimitDeliversMoreAtOnce() {
        qos(1, global: true)
        _ = c.consume("q", tag: "c")
        #expect(deliveries(c.publish("a", "b", "c", "d", routingKey: "q")) == 1)
        let out = c.call(.basicQos(BasicQos(prefetchCount: 3, global: true)))
        #expect(out == ["1:basic.qos-ok", "1:deliver c #2 b", "1:deliver c #3 c"])
    }

    @Test func rejectAndNackFreePrefetchSlotsToo() {
        qos(1)
        _ = c.consume("q", tag: "c")
        #expect(c.publish("a", "b", "c", routingKey: "q") == ["1:deliver c #1 a"])
        #expect(c.call(.basicReject(BasicReject(deliveryTag: 1, requeue: false))) == ["1:deliver c #2 b"])
        #expect(c.call(.basicNack(BasicNack(deliveryTag: 2, requeue: false))) == ["1:deliver c #3 c"])
    }

    @Test func basicGetIsNotLimitedByPrefetchAndDoesNotFreeConsumerSlots() {
        qos(1, global: true)
        _ = c.consume("q", tag: "c")
        #expect(c.publish("a", "b", "c", routingKey: "q") == ["1:deliver c #1 a"])
        #expect(c.get("q") == ["1:get-ok #2 b left=1"])
        // Acking the get frees nothing for the consumer, which still holds "a".
        #expect(c.ack(2) == [])
        #expect(c.ack(1) == ["1:deliver c #3 c"])
    }

    @Test func prefetchSizeIsNotImplementedAsInRabbitMQ() {
        #expect(c.call(.basicQos(BasicQos(prefetchSize: 1000, prefetchCount: 1))) == ["connection.close 540 60/10"])
    }

    @Test func perConsumerQosAfterAGlobalOneLiftsTheChannelLimitAsInRabbitMQ() {
        qos(1, global: true)
        _ = c.consume("q", tag: "c")
        #expect(deliveries(c.publish("a", "b", "c", routingKey: "q")) == 1)
        // basic.qos(global=false) unlimits the channel (rabbit_limiter:unlimit_prefetch).
        #expect(
            c.call(.basicQos(BasicQos(prefetchCount: 5))) == ["1:basic.qos-ok", "1:deliver c #2 b", "1:deliver c #3 c"])
    }
}
