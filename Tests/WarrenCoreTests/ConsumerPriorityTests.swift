import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// basic.consume's x-priority: the highest priorities receive while they can (prefetch
/// permitting), round-robin among equals; lower ones only when every higher one is blocked.
@Suite struct ConsumerPriorityTests {
    let vhost = makeVHost()
    let c: TestClient

    init() {
        c = TestClient(vhost)
        c.openChannel()
        c.declareQueue("q")
    }

    func qos(_ count: UInt16) {
        #expect(c.call(.basicQos(BasicQos(prefetchCount: count))) == ["1:basic.qos-ok"])
    }

    @discardableResult
    func consume(_ tag: String, priority: FieldValue?, noAck: Bool = false) -> [String] {
        var arguments = FieldTable()
        if let priority { arguments["x-priority"] = priority }
        return c.call(.basicConsume(BasicConsume(queue: "q", consumerTag: tag, noAck: noAck, arguments: arguments)))
    }

    /// "tag body" of each delivery in `out`.
    func deliveries(_ out: [String]) -> [String] {
        out.compactMap { line in
            guard line.contains(":deliver ") else { return nil }
            let parts = line.split(separator: " ")
            return "\(parts[1]) \(parts[3])"
        }
    }

    @Test func highestPrioritiesFirstRoundRobinThenLowerWhenBlocked() {
        // The case checked against RabbitMQ 3.10: same deliveries.
        qos(2)
        consume("low", priority: .int32(1))
        consume("hiA", priority: .int32(10))
        consume("hiB", priority: .int32(10))
        consume("none", priority: nil)
        let out = c.publish("m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", routingKey: "q")
        #expect(
            deliveries(out) == [
                "hiA m0", "hiB m1", "hiA m2", "hiB m3", "low m4", "low m5", "none m6", "none m7",
            ])
        #expect(vhost.queues["q"]?.messageCount == 1)
    }

    @Test func anAckFreesTheHigherConsumerFirst() {
        qos(1)
        consume("low", priority: .int32(-5))
        consume("high", priority: .int32(5))
        #expect(deliveries(c.publish("a", "b", "c", "d", routingKey: "q")) == ["high a", "low b"])
        // The low one is freed while the high one is still full: the low one gets the next.
        #expect(deliveries(c.ack(2)) == ["low c"])
        #expect(deliveries(c.ack(1)) == ["high d"])
    }

    @Test func unlimitedHighConsumerTakesEverything() {
        consume("low", priority: .int32(1))
        consume("high", priority: .int64(1 << 40), noAck: true)
        #expect(deliveries(c.publish("a", "b", "c", routingKey: "q")) == ["high a", "high b", "high c"])
    }

    @Test func cancellingTheHighConsumerLetsTheLowerOnesReceive() {
        qos(1)
        consume("high", priority: .int32(3))
        consume("low", priority: .int32(1))
        consume("low2", priority: .int32(1))
        #expect(deliveries(c.publish("a", "b", "c", "d", routingKey: "q")) == ["high a", "low b", "low2 c"])
        c.call(.basicCancel(BasicCancel(consumerTag: "high")))
        #expect(deliveries(c.ack(0, multiple: true)) == ["low d"])
    }

    @Test func withoutPrioritiesRoundRobinIsUnchanged() {
        consume("a", priority: nil, noAck: true)
        consume("b", priority: .int32(0), noAck: true)
        #expect(deliveries(c.publish("1", "2", "3", "4", routingKey: "q")) == ["a 1", "b 2", "a 3", "b 4"])
    }

    @Test func nonIntegerPriorityIsRefused() {
        #expect(consume("x", priority: .string("abc")) == ["1:channel.close 406 60/20"])
        do {
            _ = try QueueArguments.consumerPriority(["x-priority": .double(2.5)], queue: "q", vhost: "/")
            Issue.record("accepted a double")
        } catch {
            #expect(
                error.text
                    == "PRECONDITION_FAILED - invalid arg 'x-priority' for queue 'q' in vhost '/': "
                    + "\"expected integer, got double\"")
        }
    }

    @Test func listingShowsTheArguments() {
        consume("p", priority: .int32(7))
        #expect(c.session.consumerSummaries.first?.arguments == ["x-priority": .int32(7)])
    }
}
