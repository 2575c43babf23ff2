import AMQPProtocol
import Foundation
import Logging
import NIOCore
import Testing

@testable import WarrenCore

/// Priority queues (x-max-priority) as RabbitMQ 3.10's classic queues: higher priorities
/// first, FIFO within a priority, requeue to the original place, limits, TTL, dead-lettering
/// and recovery.
@Suite struct PriorityQueueTests {
    let vhost = makeVHost()
    let c: TestClient

    init() {
        c = TestClient(vhost)
        c.openChannel()
    }

    func declare(_ name: String, durable: Bool = false, _ arguments: FieldTable) {
        let out = c.call(.queueDeclare(QueueDeclare(queue: name, durable: durable, arguments: arguments)))
        #expect(out.first?.hasPrefix("1:queue.declare-ok \(name)") == true, "\(out)")
    }

    /// Publishes `name` with `priority` (nil: no priority property) to queue `q`.
    func publish(_ items: [(String, UInt8?)], to q: String = "q", persistent: Bool = false) {
        c.send(
            items.map {
                c.publishCommand(
                    $0.0, routingKey: q,
                    properties: BasicProperties(deliveryMode: persistent ? 2 : nil, priority: $0.1))
            })
    }

    /// Every ready message of `q` by basic.get (no-ack).
    func drain(_ q: String = "q", client: TestClient? = nil) -> [String] {
        let c = client ?? self.c
        var out: [String] = []
        while let m = c.send(.method(channel: 1, .basicGet(BasicGet(queue: q, noAck: true)))).first?.message {
            out.append(m.bodyString)
        }
        return out
    }

    @Test func queuedMessageStaysFortyBytes() {
        #expect(MemoryLayout<QueuedMessage>.stride == 40)
    }

    @Test func higherPrioritiesFirstFIFOWithinAPriorityAndAboveTheMaximumCountsAsIt() {
        declare("q", ["x-max-priority": .int32(5)])
        publish([("a", nil), ("b", 1), ("c", 5), ("d", 9), ("e", 0), ("f", 1), ("g", 5), ("h", 3)])
        #expect(vhost.queues["q"]?.messageCount == 8)
        // As RabbitMQ 3.10 delivers them: 9 counts as 5; none counts as 0.
        #expect(drain() == ["c", "d", "g", "h", "b", "f", "a", "e"])
    }

    @Test func plainQueueIgnoresPriorities() {
        declare("q", [:])
        publish([("a", 1), ("b", 9), ("c", nil)])
        #expect(drain() == ["a", "b", "c"])
        declare("zero", ["x-max-priority": .int32(0)])
        publish([("a", 1), ("b", 9)], to: "zero")
        #expect(drain("zero") == ["a", "b"])
    }

    @Test func consumersReceiveByPriority() {
        declare("q", ["x-max-priority": .int32(10)])
        publish([("low", 1), ("high", 8), ("mid", 4)])
        #expect(deliveredBodies(c.consume("q", tag: "c")) == ["high", "mid", "low"])
    }

    @Test func requeuedMessagesGoBackToTheirPlaceInTheirPriority() {
        declare("q", ["x-max-priority": .int32(5)])
        publish([("r0", 1), ("r1", 5), ("r2", 1), ("r3", 5), ("r4", 0)])
        #expect(c.get("q").first?.hasPrefix("1:get-ok #1 r1") == true)
        #expect(c.get("q").first?.hasPrefix("1:get-ok #2 r3") == true)
        #expect(c.get("q").first?.hasPrefix("1:get-ok #3 r0") == true)
        publish([("new5", 5), ("new1", 1)])
        for tag: UInt64 in [2, 3, 1] {
            c.call(.basicNack(BasicNack(deliveryTag: tag, requeue: true)))
        }
        // The order RabbitMQ 3.10 gives in the same case.
        #expect(drain() == ["r1", "r3", "new5", "r0", "r2", "new1", "r4"])
    }

    @Test func channelCloseRequeuesIntoPriorities() {
        declare("q", ["x-max-priority": .int32(3)])
        let other = TestClient(vhost, id: 2)
        other.openChannel()
        _ = other.consume("q", tag: "c")
        publish([("a", 0), ("b", 3), ("c", 2)])
        other.close()
        let q = vhost.queues["q"]!
        #expect(q.messageCount == 3)
        #expect(drain() == ["b", "c", "a"])
    }

    @Test func dropHeadDropsTheNextMessageToDeliverTheHighestPriority() {
        // RabbitMQ drops from the head, which in a priority queue is the highest priority.
        declare("q", ["x-max-priority": .int32(5), "x-max-length": .int32(3)])
        publish([("m0", 1), ("m1", 5), ("m2", 0), ("m3", 3), ("m4", 2)])
        #expect(drain() == ["m4", "m0", "m2"])
    }

    @Test func maxLengthBytesAndRejectPublish() {
        declare("q", ["x-max-priority": .int32(5), "x-max-length": .int32(2), "x-overflow": .string("reject-publish")])
        publish([("m0", 1), ("m1", 5), ("m2", 3)])
        #expect(drain() == ["m1", "m0"])
        declare("b", ["x-max-priority": .int32(5), "x-max-length-bytes": .int32(4)])
        publish([("aa", 1), ("bb", 2), ("cc", 0)], to: "b")
        #expect(drain("b") == ["aa", "cc"])
    }

    @Test func expiredMessagesGoWhenTheyReachTheHead() {
        declare("q", ["x-max-priority": .int32(5)])
        c.send([
            c.publishCommand("old", routingKey: "q", properties: BasicProperties(priority: 1, expiration: "1")),
            c.publishCommand("b", routingKey: "q", properties: BasicProperties(priority: 5)),
            c.publishCommand("c", routingKey: "q", properties: BasicProperties(priority: 1)),
        ])
        usleep(20_000)
        vhost.tick()
        // Not at the head yet: still counted, as in RabbitMQ.
        #expect(vhost.queues["q"]?.messageCount == 3)
        #expect(drain() == ["b", "c"])
    }

    @Test func queueTTLExpiresEveryLevelFromTheHead() {
        declare("q", ["x-max-priority": .int32(5), "x-message-ttl": .int32(10)])
        publish([("a", 1), ("b", 5), ("c", 0)])
        vhost.tick(now: MonotonicClock.milliseconds() + 1000)
        #expect(vhost.queues["q"]?.messageCount == 0)
    }

    @Test func deadLettersKeepTheirPriorityInAPriorityTarget() {
        declare("dead", ["x-max-priority": .int32(9)])
        declare(
            "q",
            [
                "x-max-priority": .int32(9), "x-max-length": .int32(1),
                "x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("dead"),
            ])
        // Over the limit, the head goes: the highest priority (here the message just published).
        publish([("p3", 3), ("p1", 1), ("p7", 7)])
        // In the priority queue they died into, the higher priority is first again.
        #expect(drain("dead") == ["p7", "p3"])
        #expect(drain() == ["p1"])
    }

    @Test func purgeEmptiesEveryLevel() {
        declare("q", ["x-max-priority": .int32(5)])
        publish([("a", 1), ("b", 5), ("c", 0)])
        #expect(c.call(.queuePurge(QueuePurge(queue: "q"))) == ["1:queue.purge-ok 3"])
        #expect(drain() == [])
        publish([("d", 2), ("e", 4)])
        #expect(drain() == ["e", "d"])
    }

    @Test func argumentsAreValidatedAsRabbitMQDoes() {
        func refusal(_ value: FieldValue) -> String? {
            do {
                try QueueArguments.validateConsumptionArguments(["x-max-priority": value], queue: "q", vhost: "/")
                return nil
            } catch {
                return error.text
            }
        }
        let prefix = "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue 'q' in vhost '/': "
        #expect(refusal(.int32(256)) == prefix + "{max_value_exceeded,256}")
        #expect(refusal(.int32(-1)) == prefix + "{value_negative,-1}")
        #expect(refusal(.string("abc")) == prefix + "\"expected integer, got longstr\"")
        #expect(refusal(.boolean(true)) == prefix + "\"expected integer, got bool\"")
        #expect(refusal(.double(1.5)) == prefix + "\"expected integer, got double\"")
        #expect(refusal(.int32(0)) == nil)
        #expect(refusal(.uint8(255)) == nil)
        #expect(
            c.call(.queueDeclare(QueueDeclare(queue: "x", arguments: ["x-max-priority": .int32(256)])))
                == ["1:channel.close 406 50/10"])
    }

    @Test func durablePriorityQueueRecoversInPriorityOrder() throws {
        let directory = TestStoreDirectory("prio")
        defer { directory.remove() }
        do {
            let vhost = try directory.vhost()
            let c = TestClient(vhost)
            c.openChannel()
            c.call(.queueDeclare(QueueDeclare(queue: "q", durable: true, arguments: ["x-max-priority": .int32(5)])))
            c.send(
                [("a", 1), ("b", 5), ("c", nil), ("d", 9), ("e", 1), ("f", 3)].map { (body, p: UInt8?) in
                    c.publishCommand(body, routingKey: "q", properties: BasicProperties(deliveryMode: 2, priority: p))
                })
            // A requeued message keeps its place after recovery too.
            #expect(c.get("q").first?.hasPrefix("1:get-ok #1 b") == true)
            c.call(.basicNack(BasicNack(deliveryTag: 1, requeue: true)))
            c.call(.channelFlow(ChannelFlow(active: true)))
        }
        let vhost = try directory.vhost()
        #expect(vhost.queues["q"]?.maxPriority == 5)
        let c = TestClient(vhost)
        c.openChannel()
        #expect(drain(client: c) == ["b", "d", "f", "a", "e", "c"])
    }

    @Test func pagedOutMessagesKeepTheirPriority() throws {
        let directory = TestStoreDirectory("prio")
        defer { directory.remove() }
        let vhost = makeVHost()
        let store = try directory.store()
        store.queueMemoryLimit = 8
        try vhost.attach(store)
        let c = TestClient(vhost)
        c.openChannel()
        c.call(.queueDeclare(QueueDeclare(queue: "q", durable: true, arguments: ["x-max-priority": .int32(5)])))
        c.send(
            [("aaaa", 1), ("bbbb", 2), ("cccc", 5), ("dddd", 3)].map { (body, p: UInt8?) in
                c.publishCommand(body, routingKey: "q", properties: BasicProperties(deliveryMode: 2, priority: p))
            })
        #expect(vhost.queues["q"]?.messageCount == 4)
        #expect(drain(client: c) == ["cccc", "dddd", "bbbb", "aaaa"])
    }
}
