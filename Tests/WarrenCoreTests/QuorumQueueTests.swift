import AMQPProtocol
import Foundation
import Logging
import NIOCore
import Testing

@testable import WarrenCore

/// Quorum queues on one node as RabbitMQ 3.10 has them: declaration rules and their errors,
/// delivery counts and `x-delivery-count`, the delivery limit, where returned messages go,
/// and persistence of every message and of delivery counts.
@Suite struct QuorumQueueTests {
    let vhost = makeVHost()
    let c: TestClient

    init() {
        c = TestClient(vhost)
        c.openChannel()
    }

    static let quorum: FieldTable = ["x-queue-type": .string("quorum")]

    // MARK: Helpers

    /// Declares a queue; returns the reply's summary and, for a channel.close, its text.
    @discardableResult
    func declare(
        _ name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
        _ arguments: FieldTable = quorum, channel: UInt16 = 1
    ) -> (summary: String, text: String?) {
        let out = c.send(
            .method(
                channel: channel,
                .queueDeclare(
                    QueueDeclare(
                        queue: name, durable: durable, exclusive: exclusive, autoDelete: autoDelete,
                        arguments: arguments))))
        return reply(out)
    }

    func reply(_ out: [SessionOutput]) -> (summary: String, text: String?) {
        guard let first = out.first else { return ("", nil) }
        if case .method(_, .channelClose(let m)) = first { return (first.summary, m.replyText) }
        return (first.summary, nil)
    }

    /// Expects a 406 channel.close with `text`, then reopens the channel.
    func expectRefused(_ result: (summary: String, text: String?), _ text: String, line: Int = #line) {
        #expect(result.summary.hasPrefix("1:channel.close 406"), "\(result)")
        #expect(result.text == "PRECONDITION_FAILED - \(text)")
        c.call(.channelCloseOk(ChannelCloseOk()))
        c.openChannel()
    }

    func arguments(_ extra: FieldTable) -> FieldTable {
        var a = Self.quorum
        a.entries += extra.entries
        return a
    }

    /// basic.get with ack: the delivery tag and message.
    func get(_ queue: String) -> (tag: UInt64, message: Message, redelivered: Bool)? {
        let out = c.send(.method(channel: 1, .basicGet(BasicGet(queue: queue))))
        guard case .getOk(_, let tag, let redelivered, _, let m)? = out.first else { return nil }
        return (tag, m, redelivered)
    }

    func headers(_ m: Message?) -> FieldTable {
        (try? m?.properties.decode().headers) ?? FieldTable()
    }

    func deliveryCount(_ m: Message?) -> Int64? { headers(m)["x-delivery-count"]?.integerValue }

    func nack(_ tag: UInt64, requeue: Bool = true) {
        c.call(.basicNack(BasicNack(deliveryTag: tag, requeue: requeue)))
    }

    /// Every message left in `queue`, taken with no-ack: bodies and delivery counts.
    func drain(_ queue: String) -> [String] {
        var out: [String] = []
        while let m = c.send(.method(channel: 1, .basicGet(BasicGet(queue: queue, noAck: true)))).first?.message {
            out.append("\(m.bodyString):\(deliveryCount(m) ?? -1)")
        }
        return out
    }

    // MARK: Declaration

    @Test func declaresAQuorumQueueListedAsQuorum() {
        #expect(declare("q").summary == "1:queue.declare-ok q 0 0")
        #expect(vhost.queues["q"]?.type == .quorum)
        #expect(declare("q").summary == "1:queue.declare-ok q 0 0")
        #expect(declare("c", durable: false, ["x-queue-type": .string("classic")]).summary.contains("declare-ok"))
        #expect(vhost.queues["c"]?.type == .classic)
    }

    @Test func refusesWhatRabbitMQRefuses() {
        let v = "in vhost '/'"
        expectRefused(declare("q", durable: false), "invalid property 'non-durable' for queue 'q' \(v)")
        expectRefused(declare("q", exclusive: true), "invalid property 'exclusive-owner' for queue 'q' \(v)")
        expectRefused(declare("q", autoDelete: true), "invalid property 'auto-delete' for queue 'q' \(v)")
        // RabbitMQ's order: auto-delete before exclusive before non-durable; arguments first.
        expectRefused(
            declare("q", durable: false, exclusive: true), "invalid property 'exclusive-owner' for queue 'q' \(v)")
        expectRefused(
            declare("q", exclusive: true, autoDelete: true), "invalid property 'auto-delete' for queue 'q' \(v)")
        for key in ["x-max-priority", "x-queue-mode", "x-queue-version", "x-queue-master-locator"] {
            let value: FieldValue = key == "x-queue-mode" || key == "x-queue-master-locator" ? .string("x") : .int32(2)
            expectRefused(
                declare("q", durable: false, arguments([(key, value)].reduce(into: FieldTable()) { $0[$1.0] = $1.1 })),
                "invalid arg '\(key)' for queue 'q' \(v) of queue type rabbit_quorum_queue")
        }
        expectRefused(
            declare("q", ["x-queue-type": .string("foo")]),
            "invalid arg 'x-queue-type' for queue 'q' \(v): \"unsupported queue type 'foo'\"")
        expectRefused(
            declare("q", ["x-queue-type": .int32(1)]),
            "invalid arg 'x-queue-type' for queue 'q' \(v): {unacceptable_type,signedint}")
        #expect(vhost.queues["q"] == nil)
        // Accepted and without effect here, as in RabbitMQ.
        #expect(
            declare("q", arguments(["x-overflow": .string("reject-publish"), "x-bogus": .int32(1)])).summary
                == "1:queue.declare-ok q 0 0")
    }

    @Test func serverNamedQuorumQueueIsRefused() {
        let out = c.send(
            .method(channel: 1, .queueDeclare(QueueDeclare(queue: "", durable: true, arguments: Self.quorum))))
        expectRefused(reply(out), "Cannot declare a server-named queue for type rabbit_quorum_queue")
    }

    @Test func redeclaringWithAnotherTypeIsInequivalent() {
        declare("q")
        let prefix = "inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': "
        expectRefused(
            declare("q", ["x-queue-type": .string("classic")]), prefix + "received 'classic' but current is 'quorum'")
        expectRefused(declare("q", [:]), prefix + "received none but current is the value 'quorum' of type 'longstr'")
        declare("c", [:])
        expectRefused(
            declare("c", Self.quorum),
            "inequivalent arg 'x-queue-type' for queue 'c' in vhost '/': "
                + "received the value 'quorum' of type 'longstr' but current is none")
        // No type and `classic` are the same type.
        #expect(declare("c", ["x-queue-type": .string("classic")]).summary.contains("declare-ok"))
        // Arguments a quorum queue refuses are not compared on redeclaration.
        #expect(declare("q", arguments(["x-max-priority": .int32(3)])).summary.contains("declare-ok"))
    }

    @Test func cancelOnHaFailoverIsRefusedByQuorumQueuesOnly() {
        declare("q")
        declare("c", [:])
        let arg: FieldTable = ["x-cancel-on-ha-failover": .boolean(true)]
        #expect(
            c.call(.basicConsume(BasicConsume(queue: "c", consumerTag: "a", arguments: arg)))
                == ["1:basic.consume-ok a"])
        let out = c.send(.method(channel: 1, .basicConsume(BasicConsume(queue: "q", consumerTag: "b", arguments: arg))))
        expectRefused(
            reply(out),
            "invalid arg 'x-cancel-on-ha-failover' for queue 'q' in vhost '/' of queue type rabbit_quorum_queue")
    }

    // MARK: Delivery count

    @Test func deliveryCountGrowsWithEachReturnAndIsSentOnRedelivery() throws {
        declare("q")
        c.publish("a", routingKey: "q", properties: BasicProperties(headers: ["z": .int32(1), "b": .int32(2)]))
        // basic.get always carries the header, 0 the first time.
        var got = try #require(get("q"))
        #expect(deliveryCount(got.message) == 0 && !got.redelivered)
        nack(got.tag)
        got = try #require(get("q"))
        #expect(deliveryCount(got.message) == 1 && got.redelivered)
        // Sorted into the headers, as RabbitMQ sets it.
        #expect(headers(got.message).entries.map(\.key) == ["b", "x-delivery-count", "z"])
        c.call(.basicReject(BasicReject(deliveryTag: got.tag, requeue: true)))
        got = try #require(get("q"))
        #expect(deliveryCount(got.message) == 2)
        c.call(.basicAck(BasicAck(deliveryTag: got.tag)))

        // A consumer's first delivery has no header; redeliveries do.
        c.publish("b", "c", routingKey: "q")
        c.call(.basicQos(BasicQos(prefetchCount: 1)))
        var out = c.send(.method(channel: 1, .basicConsume(BasicConsume(queue: "q", consumerTag: "t"))))
        var delivered = out.compactMap(\.message)
        #expect(delivered.map(\.bodyString) == ["b"])
        #expect(headers(delivered.first).isEmpty)
        // Closing the channel returns it too.
        c.call(.channelClose(ChannelClose(replyCode: 200, replyText: "", classID: 0, methodID: 0)))
        c.openChannel()
        #expect(vhost.queues["q"]?.messageCount == 2)
        c.call(.basicQos(BasicQos(prefetchCount: 10)))
        out = c.send(.method(channel: 1, .basicConsume(BasicConsume(queue: "q", consumerTag: "t"))))
        delivered = out.compactMap(\.message)
        #expect(delivered.map { "\($0.bodyString):\(deliveryCount($0) ?? -1)" } == ["b:1", "c:-1"])
        // basic.recover counts as a return, and puts them at the back.
        out = c.send(.method(channel: 1, .basicRecover(BasicRecover(requeue: true))))
        delivered = out.compactMap(\.message)
        #expect(delivered.map { "\($0.bodyString):\(deliveryCount($0) ?? -1)" } == ["b:2", "c:1"])
    }

    @Test func classicQueuesAddNoHeader() throws {
        declare("c", durable: false, [:])
        c.publish("a", routingKey: "c")
        let got = try #require(get("c"))
        nack(got.tag)
        let again = try #require(get("c"))
        #expect(again.redelivered && headers(again.message).isEmpty)
    }

    // MARK: Where returned messages go

    @Test func nackedMessagesGoToTheBackWithoutADeliveryLimit() throws {
        declare("q")
        c.publish("a", "b", "c", "d", routingKey: "q")
        let a = try #require(get("q"))
        let b = try #require(get("q"))
        nack(b.tag)
        nack(a.tag)
        #expect(drain("q") == ["c:0", "d:0", "b:1", "a:1"])
    }

    @Test func nackedMessagesComeFirstWithADeliveryLimit() throws {
        declare("q", arguments(["x-delivery-limit": .int32(10)]))
        c.publish("a", "b", "c", "d", routingKey: "q")
        let a = try #require(get("q"))
        let b = try #require(get("q"))
        nack(b.tag)
        nack(a.tag)
        #expect(drain("q") == ["b:1", "a:1", "c:0", "d:0"])
    }

    @Test func messagesOfAClosedChannelComeFirst() throws {
        declare("q")
        c.publish("a", "b", "c", "d", routingKey: "q")
        _ = try #require(get("q"))
        _ = try #require(get("q"))
        c.call(.channelClose(ChannelClose(replyCode: 200, replyText: "", classID: 0, methodID: 0)))
        c.openChannel()
        #expect(drain("q") == ["a:1", "b:1", "c:0", "d:0"])
    }

    // MARK: Delivery limit

    @Test func pastTheDeliveryLimitAMessageIsDeadLettered() throws {
        declare("dead", durable: false, [:])
        declare(
            "q",
            arguments([
                "x-delivery-limit": .int32(2), "x-dead-letter-exchange": .string(""),
                "x-dead-letter-routing-key": .string("dead"),
            ]))
        c.publish("a", routingKey: "q", properties: BasicProperties(headers: ["k": .string("v")], expiration: "100000"))
        for expected: Int64 in [0, 1, 2] {
            let got = try #require(get("q"))
            #expect(deliveryCount(got.message) == expected)
            nack(got.tag)
        }
        #expect(vhost.queues["q"]?.messageCount == 0)
        let dead = c.send(.method(channel: 1, .basicGet(BasicGet(queue: "dead", noAck: true)))).first?.message
        #expect(dead?.bodyString == "a")
        let h = headers(dead)
        #expect(h["x-first-death-reason"]?.stringValue == "delivery_limit")
        #expect(h["x-first-death-queue"]?.stringValue == "q")
        #expect(h["x-delivery-count"] == nil)
        guard case .array(let deaths)? = h["x-death"], case .table(let death)? = deaths.first else {
            Issue.record("no x-death")
            return
        }
        #expect(death["reason"]?.stringValue == "delivery_limit")
        #expect(death["count"]?.integerValue == 1)
        #expect(death["original-expiration"]?.stringValue == "100000")
    }

    @Test func pastTheDeliveryLimitWithoutADeadLetterExchangeAMessageIsDropped() throws {
        declare("q", arguments(["x-delivery-limit": .int32(0)]))
        c.publish("a", routingKey: "q")
        let got = try #require(get("q"))
        nack(got.tag)
        #expect(vhost.queues["q"]?.messageCount == 0)
    }

    @Test func closingAChannelCountsTowardsTheLimit() throws {
        declare("q", arguments(["x-delivery-limit": .int32(1)]))
        c.publish("a", routingKey: "q")
        for _ in 0..<2 {
            _ = try #require(get("q"))
            c.call(.channelClose(ChannelClose(replyCode: 200, replyText: "", classID: 0, methodID: 0)))
            c.openChannel()
        }
        #expect(vhost.queues["q"]?.messageCount == 0)
    }

    @Test func deliveryLimitIsTheSmallestOfArgumentPolicyAndOperatorPolicy() throws {
        func limits(_ arg: Int32?, _ policy: Int64?, _ op: Int64?) -> Int? {
            let args: FieldTable = arg.map { ["x-delivery-limit": .int32($0)] } ?? [:]
            func make(_ name: String, _ n: Int64?) throws -> Policy? {
                try n.map {
                    try Policy(
                        PolicyDefinition(
                            vhost: "/", name: name, pattern: ".*", definition: ["delivery-limit": .int($0)]))
                }
            }
            let p = try? make("p", policy)
            let o = try? make("o", op)
            return QueueLimits(arguments: args, policy: p ?? nil, operatorPolicy: o ?? nil).deliveryLimit
        }
        #expect(limits(nil, nil, nil) == nil)
        #expect(limits(5, nil, nil) == 5)
        #expect(limits(5, 3, nil) == 3)
        #expect(limits(2, 3, 4) == 2)
        #expect(limits(nil, 7, 4) == 4)
    }

    // MARK: Persistence

    @Test func everyMessageAndItsDeliveryCountSurviveARestart() throws {
        let directory = TestStoreDirectory("quorum")
        defer { directory.remove() }
        do {
            let vhost = try directory.vhost()
            let c = TestClient(vhost)
            c.openChannel()
            c.call(.queueDeclare(QueueDeclare(queue: "q", durable: true, arguments: Self.quorum)))
            // Transient and persistent alike are kept.
            c.publish("transient", routingKey: "q")
            c.publish("persistent", routingKey: "q", properties: BasicProperties(deliveryMode: 2))
            c.publish("acked", routingKey: "q")
            for _ in 0..<2 {
                let out = c.send(.method(channel: 1, .basicGet(BasicGet(queue: "q"))))
                guard case .getOk(_, let tag, _, _, _)? = out.first else { return }
                c.call(.basicNack(BasicNack(deliveryTag: tag, requeue: true)))
            }
            // Now: acked:0, transient:1, persistent:1. Ack "acked".
            let out = c.send(.method(channel: 1, .basicGet(BasicGet(queue: "q"))))
            #expect(out.first?.message?.bodyString == "acked")
            c.call(.basicAck(BasicAck(deliveryTag: 3)))
        }
        let vhost = try directory.vhost()
        let q = try #require(vhost.queues["q"])
        #expect(q.type == .quorum)
        let c = TestClient(vhost)
        c.openChannel()
        var got: [String] = []
        while let m = c.send(.method(channel: 1, .basicGet(BasicGet(queue: "q", noAck: true)))).first?.message {
            got.append("\(m.bodyString):\(headers(m)["x-delivery-count"]?.integerValue ?? -1)")
        }
        #expect(got == ["transient:1", "persistent:1"])
    }
}
