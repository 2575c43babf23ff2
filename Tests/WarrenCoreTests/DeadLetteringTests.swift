import AMQPProtocol
import Foundation
import Logging
import NIOCore
import Testing

@testable import WarrenCore

/// Dead-lettering (x-dead-letter-exchange / -routing-key) as RabbitMQ 3.10 does it: every
/// reason, the x-death header, cycles, a missing exchange, persistence of the copy.
@Suite struct DeadLetteringTests {
    let vhost = makeVHost()
    let c: TestClient

    init() {
        c = TestClient(vhost)
        c.openChannel()
    }

    // MARK: Helpers

    func declare(_ name: String, durable: Bool = false, _ arguments: FieldTable = [:]) {
        let out = c.call(.queueDeclare(QueueDeclare(queue: name, durable: durable, arguments: arguments)))
        #expect(out.first?.hasPrefix("1:queue.declare-ok \(name)") == true, "\(out)")
    }

    /// A queue "src" dead-lettering to the default exchange with routing key "dead", and "dead".
    func declareSourceAndTarget(_ extra: FieldTable = [:]) {
        declare("dead")
        var arguments: FieldTable = [
            "x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("dead"),
        ]
        arguments.entries += extra.entries
        declare("src", arguments)
    }

    /// The next message of `queue` (basic.get, no-ack), or nil when it is empty.
    func take(_ queue: String) -> Message? {
        c.send(.method(channel: 1, .basicGet(BasicGet(queue: queue, noAck: true)))).first?.message
    }

    func rejectNext(_ queue: String, nack: Bool = false) {
        let out = c.send(.method(channel: 1, .basicGet(BasicGet(queue: queue))))
        guard case .getOk(_, let tag, _, _, _)? = out.first else {
            Issue.record("nothing to reject in \(queue): \(out.map(\.summary))")
            return
        }
        if nack {
            c.call(.basicNack(BasicNack(deliveryTag: tag, requeue: false)))
        } else {
            c.call(.basicReject(BasicReject(deliveryTag: tag, requeue: false)))
        }
    }

    func headers(_ message: Message?) -> FieldTable {
        (try? message?.properties.decode().headers) ?? FieldTable()
    }

    func deaths(_ message: Message?) -> [FieldTable] {
        guard case .array(let items)? = headers(message)["x-death"] else { return [] }
        return items.compactMap { if case .table(let t) = $0 { return t } else { return nil } }
    }

    // MARK: Reasons

    @Test func rejectedMessageIsRepublishedWithXDeath() throws {
        declare("dead")
        try vhost.makeExchange("dlx", .fanout)
        try vhost.bindQueue("dead", to: "dlx")
        declare("src", ["x-dead-letter-exchange": .string("dlx")])
        c.publish(
            "m", routingKey: "src",
            properties: BasicProperties(
                headers: ["h": .string("v"), "CC": .array([.string("cc1")])], deliveryMode: 2, expiration: "60000",
                messageID: "id1"))
        rejectNext("src")

        let m = try #require(take("dead"))
        #expect(m.bodyString == "m")
        #expect(m.exchange == "dlx")
        #expect(m.routingKey == "src")
        let p = try m.properties.decode()
        #expect(p.expiration == nil)
        #expect(p.deliveryMode == 2)
        #expect(p.messageID == "id1")
        let h = try #require(p.headers)
        // Sorted by name, as RabbitMQ leaves them.
        #expect(
            h.entries.map(\.key) == [
                "CC", "h", "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
            ])
        #expect(h["x-first-death-reason"] == .string("rejected"))
        #expect(h["x-first-death-queue"] == .string("src"))
        #expect(h["x-first-death-exchange"] == .string(""))
        let death = try #require(deaths(m).first)
        #expect(
            death.entries.map(\.key) == [
                "count", "reason", "queue", "time", "exchange", "routing-keys", "original-expiration",
            ])
        #expect(death["count"] == .int64(1))
        #expect(death["reason"] == .string("rejected"))
        #expect(death["queue"] == .string("src"))
        #expect(death["exchange"] == .string(""))
        #expect(death["routing-keys"] == .array([.string("src"), .string("cc1")]))
        #expect(death["original-expiration"] == .string("60000"))
        guard case .timestamp(let t)? = death["time"] else {
            Issue.record("time is not a timestamp: \(String(describing: death["time"]))")
            return
        }
        #expect(abs(Int64(t) - Int64(Date().timeIntervalSince1970)) < 10)
        #expect(take("src") == nil)
    }

    @Test func nackWithoutRequeueDeadLettersButAckDoesNot() {
        declareSourceAndTarget()
        c.publish("a", "b", routingKey: "src")
        rejectNext("src", nack: true)
        #expect(c.get("src") == ["1:get-ok #2 b left=0"])
        #expect(c.ack(2) == [])
        #expect(take("dead")?.bodyString == "a")
        #expect(take("dead") == nil)
    }

    @Test func requeuedRejectIsNotDeadLettered() {
        declareSourceAndTarget()
        c.publish("a", routingKey: "src")
        _ = c.get("src")
        c.call(.basicReject(BasicReject(deliveryTag: 1, requeue: true)))
        #expect(take("dead") == nil)
        #expect(take("src")?.bodyString == "a")
    }

    @Test func rejectionsInATransactionDeadLetterOnCommit() {
        declareSourceAndTarget()
        c.publish("a", routingKey: "src")
        c.call(.txSelect(TxSelect()))
        rejectNext("src")
        #expect(take("dead") == nil)
        c.call(.txCommit(TxCommit()))
        #expect(take("dead")?.bodyString == "a")
    }

    @Test func queueTTLExpiryDeadLettersWithReasonExpired() {
        declareSourceAndTarget(["x-message-ttl": .int32(10)])
        c.publish("a", routingKey: "src")
        vhost.tick(now: MonotonicClock.milliseconds() + 1000)
        let m = take("dead")
        #expect(m?.bodyString == "a")
        #expect(deaths(m).first?["reason"] == .string("expired"))
        #expect(headers(m)["x-first-death-reason"] == .string("expired"))
    }

    @Test func perMessageExpiryFoundByBasicGetDeadLetters() {
        declareSourceAndTarget()
        c.publish("a", routingKey: "src", properties: BasicProperties(expiration: "1"))
        usleep(40_000)
        #expect(c.get("src") == ["1:basic.get-empty"])
        let m = take("dead")
        #expect(m?.bodyString == "a")
        #expect(deaths(m).first?["original-expiration"] == .string("1"))
        #expect(deaths(m).first?["reason"] == .string("expired"))
        #expect((try? m?.properties.decode().expiration) == .some(nil))
    }

    @Test func maxLengthDropHeadDeadLettersWithReasonMaxlen() {
        declareSourceAndTarget(["x-max-length": .int32(2)])
        c.publish("a", "b", "c", "d", routingKey: "src")
        let first = take("dead")
        #expect(first?.bodyString == "a")
        #expect(deaths(first).first?["reason"] == .string("maxlen"))
        #expect(take("dead")?.bodyString == "b")
        #expect(take("dead") == nil)
        #expect(take("src")?.bodyString == "c")
    }

    @Test func maxLengthBytesDropHeadDeadLetters() {
        declareSourceAndTarget(["x-max-length-bytes": .int32(5)])
        c.publish("abc0", "abc1", "abc2", routingKey: "src")
        #expect(take("dead")?.bodyString == "abc0")
        #expect(take("dead")?.bodyString == "abc1")
        #expect(take("src")?.bodyString == "abc2")
    }

    @Test func rejectPublishDLXNacksThePublisherAndDeadLettersTheMessage() {
        declareSourceAndTarget(["x-max-length": .int32(1), "x-overflow": .string("reject-publish-dlx")])
        c.call(.confirmSelect(ConfirmSelect()))
        let out = c.publish("a", "b", routingKey: "src")
        #expect(out == ["1:basic.nack 2", "1:basic.ack 1"] || out == ["1:basic.ack 1", "1:basic.nack 2"], "\(out)")
        let m = take("dead")
        #expect(m?.bodyString == "b")
        #expect(deaths(m).first?["reason"] == .string("maxlen"))
        #expect(take("src")?.bodyString == "a")
    }

    @Test func plainRejectPublishDoesNotDeadLetter() {
        declareSourceAndTarget(["x-max-length": .int32(1), "x-overflow": .string("reject-publish")])
        c.publish("a", "b", routingKey: "src")
        #expect(take("dead") == nil)
    }

    @Test func missingDeadLetterExchangeDropsTheMessage() {
        declare("src", ["x-dead-letter-exchange": .string("nowhere")])
        c.publish("a", routingKey: "src")
        rejectNext("src")
        #expect(take("src") == nil)
        #expect(c.call(.channelFlow(ChannelFlow(active: true))) == ["1:channel.flow-ok true"])
    }

    @Test func purgeAndDeleteDoNotDeadLetter() {
        declareSourceAndTarget()
        c.publish("a", routingKey: "src")
        c.call(.queuePurge(QueuePurge(queue: "src")))
        c.publish("b", routingKey: "src")
        c.call(.queueDelete(QueueDelete(queue: "src")))
        #expect(take("dead") == nil)
    }

    @Test func rejectAfterTheQueueWasDeletedDropsTheMessage() {
        declareSourceAndTarget()
        c.publish("a", routingKey: "src")
        _ = c.get("src")
        let other = TestClient(vhost, id: 2)
        other.openChannel()
        other.call(.queueDelete(QueueDelete(queue: "src")))
        c.call(.basicReject(BasicReject(deliveryTag: 1, requeue: false)))
        #expect(take("dead") == nil)
    }

    // MARK: Routing keys

    @Test func withoutDeadLetterRoutingKeyTheOriginalKeysAndCCRouteAndBCCIsRemoved() throws {
        try vhost.makeExchange("dlx", .direct)
        for key in ["rk", "cc1", "bcc1"] {
            declare("t-\(key)")
            try vhost.bindQueue("t-\(key)", to: "dlx", key: key)
        }
        declare("src", ["x-dead-letter-exchange": .string("dlx")])
        c.publish(
            "m", routingKey: "src",
            properties: BasicProperties(headers: ["CC": .array([.string("cc1")]), "BCC": .array([.string("bcc1")])]))
        // Published straight to the queue; what matters is the keys it carries when it dies.
        rejectNext("src")
        for key in ["rk", "cc1", "bcc1"] where key != "rk" {
            let m = take("t-\(key)")
            #expect(m?.bodyString == "m", "t-\(key)")
            #expect(m?.routingKey == "src")
            #expect(headers(m)["BCC"] == nil)
            #expect(headers(m)["CC"] == .array([.string("cc1")]))
            #expect(deaths(m).first?["routing-keys"] == .array([.string("src"), .string("cc1")]))
        }
        #expect(take("t-rk") == nil)
    }

    @Test func deadLetterRoutingKeyReplacesTheKeysAndRemovesCC() {
        declareSourceAndTarget()
        c.publish("m", routingKey: "src", properties: BasicProperties(headers: ["CC": .array([.string("zz")])]))
        rejectNext("src")
        let m = take("dead")
        #expect(m?.routingKey == "dead")
        #expect(headers(m)["CC"] == nil)
        #expect(deaths(m).first?["routing-keys"] == .array([.string("src"), .string("zz")]))
    }

    // MARK: x-death

    @Test func repeatedDeathInTheSameQueueIncrementsTheCountAndSortsTheEntry() {
        declare("loop", ["x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("loop")])
        c.publish("m", routingKey: "loop")
        rejectNext("loop")
        rejectNext("loop")
        let m = take("loop")
        let d = deaths(m)
        #expect(d.count == 1)
        #expect(d.first?["count"] == .int64(2))
        #expect(d.first?.entries.map(\.key) == ["count", "exchange", "queue", "reason", "routing-keys", "time"])
        #expect(headers(m)["x-first-death-reason"] == .string("rejected"))
    }

    @Test func deathsAreListedMostRecentFirstAndAMatchMovesToTheFront() {
        // a rejects to b; b's TTL expires it back to a; a rejects it again.
        declare("a", ["x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("b")])
        declare(
            "b",
            [
                "x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("a"),
                "x-message-ttl": .int32(5),
            ])
        c.publish("m", routingKey: "a")
        rejectNext("a")
        vhost.tick(now: MonotonicClock.milliseconds() + 1000)
        var d = deaths(take("a"))
        #expect(d.map { $0["queue"] } == [.string("b"), .string("a")])
        #expect(d.map { $0["reason"] } == [.string("expired"), .string("rejected")])
        // Put it back and reject it once more: a's entry counts 2 and comes first.
        c.publish("again", routingKey: "a")
        rejectNext("a")
        vhost.tick(now: MonotonicClock.milliseconds() + 1000)
        rejectNext("a")
        let m = take("b")
        d = deaths(m)
        #expect(d.map { $0["queue"] } == [.string("a"), .string("b")])
        #expect(d.map { $0["count"] } == [.int64(2), .int64(1)])
        #expect(headers(m)["x-first-death-queue"] == .string("a"))
    }

    // MARK: Cycles

    @Test func automaticCycleIsDropped() {
        declare(
            "self",
            [
                "x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("self"),
                "x-message-ttl": .int32(5),
            ])
        c.publish("m", routingKey: "self")
        vhost.tick(now: MonotonicClock.milliseconds() + 1000)
        #expect(vhost.queues["self"]?.messageCount == 0)
    }

    @Test func cycleThroughTwoQueuesWithoutRejectionIsDroppedAndWithOneIsKept() {
        declare(
            "p",
            [
                "x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("q"),
                "x-message-ttl": .int32(5),
            ])
        declare("q", ["x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("p")])
        c.publish("m", routingKey: "p")
        vhost.tick(now: MonotonicClock.milliseconds() + 1000)
        // In q after expiring from p; q rejects it back to p (a rejection: allowed).
        rejectNext("q")
        #expect(vhost.queues["p"]?.messageCount == 1)
        // p expires it into q again: the cycle since q's death contains the rejection.
        vhost.tick(now: MonotonicClock.milliseconds() + 1000)
        let m = take("q")
        #expect(deaths(m).map { $0["count"] } == [.int64(2), .int64(1)])
    }

    @Test func maxlenCycleBetweenRejectPublishQueuesEnds() {
        let args: (String) -> FieldTable = { next in
            [
                "x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string(next),
                "x-max-length": .int32(0), "x-overflow": .string("reject-publish-dlx"),
            ]
        }
        declare("r1", args("r2"))
        declare("r2", args("r1"))
        c.publish("m", routingKey: "r1")
        #expect(vhost.queues["r1"]?.messageCount == 0)
        #expect(vhost.queues["r2"]?.messageCount == 0)
    }

    // MARK: Declaration

    @Test func argumentsAreValidatedAsRabbitMQDoes() {
        func refusal(_ arguments: FieldTable) -> String? {
            do {
                _ = try QueueLimits(arguments: arguments, queue: "q", vhost: "/")
                return nil
            } catch {
                return error.text
            }
        }
        #expect(
            refusal(["x-dead-letter-routing-key": .string("k")])
                == "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue 'q' in vhost '/': "
                + "routing_key_but_no_dlx_defined")
        #expect(
            refusal(["x-dead-letter-exchange": .int64(5)])
                == "PRECONDITION_FAILED - invalid type 'long' for arg 'x-dead-letter-exchange' in queue 'q' in vhost '/'"
        )
        #expect(
            refusal(["x-dead-letter-exchange": .string("d"), "x-dead-letter-routing-key": .int64(5)])
                == "PRECONDITION_FAILED - invalid arg 'x-dead-letter-routing-key' for queue 'q' in vhost '/': "
                + "{unacceptable_type,long}")
        #expect(refusal(["x-dead-letter-exchange": .string("")]) == nil)
        let limits = try? QueueLimits(arguments: [
            "x-dead-letter-exchange": .string("d"), "x-dead-letter-routing-key": .string("k"),
        ])
        #expect(limits?.deadLetterExchange == "d")
        #expect(limits?.deadLetterRoutingKey == "k")
        #expect(
            c.call(.queueDeclare(QueueDeclare(queue: "x", arguments: ["x-dead-letter-routing-key": .string("k")])))
                == ["1:channel.close 406 50/10"])
    }

    // MARK: Persistence

    @Test func persistentMessageDeadLetteredIntoADurableQueueSurvivesARestart() throws {
        let directory = TestStoreDirectory("dlx")
        defer { directory.remove() }
        do {
            let vhost = try directory.vhost()
            let c = TestClient(vhost)
            c.openChannel()
            c.call(.queueDeclare(QueueDeclare(queue: "dead", durable: true)))
            c.call(.queueDeclare(QueueDeclare(queue: "transient-dead", durable: false)))
            c.call(
                .queueDeclare(
                    QueueDeclare(
                        queue: "src", durable: true,
                        arguments: ["x-dead-letter-exchange": .string("amq.fanout")])))
            c.call(.queueBind(QueueBind(queue: "dead", exchange: "amq.fanout")))
            c.call(.queueBind(QueueBind(queue: "transient-dead", exchange: "amq.fanout")))
            c.publish("p", routingKey: "src", properties: BasicProperties(deliveryMode: 2))
            c.publish("t", routingKey: "src")
            for tag: UInt64 in [1, 2] {
                _ = c.get("src")
                c.call(.basicReject(BasicReject(deliveryTag: tag, requeue: false)))
            }
            #expect(vhost.queues["dead"]?.messageCount == 2)
            // One more batch, so the removal that waited for the sync is written too.
            c.call(.channelFlow(ChannelFlow(active: true)))
        }
        let vhost = try directory.vhost()
        #expect(vhost.queues["src"]?.messageCount == 0)
        #expect(vhost.queues["dead"]?.messageCount == 1)
        let c = TestClient(vhost)
        c.openChannel()
        let m = c.send(.method(channel: 1, .basicGet(BasicGet(queue: "dead", noAck: true)))).first?.message
        #expect(m?.bodyString == "p")
        guard case .array(let d)? = try m?.properties.decode().headers?["x-death"] else {
            Issue.record("no x-death after recovery")
            return
        }
        #expect(d.count == 1)
    }

    @Test func sourceRecordStaysUntilTheCopyIsSynced() throws {
        let directory = TestStoreDirectory("dlx")
        defer { directory.remove() }
        let syncs = HeldSyncs()
        let vhost = makeVHost()
        let store = try directory.store(syncer: syncs.syncer)
        try vhost.attach(store)
        let c = TestClient(vhost)
        c.openChannel()
        c.call(.queueDeclare(QueueDeclare(queue: "dead", durable: true)))
        c.call(
            .queueDeclare(
                QueueDeclare(
                    queue: "src", durable: true,
                    arguments: ["x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("dead")])))
        c.publish("p", routingKey: "src", properties: BasicProperties(deliveryMode: 2))
        syncs.completeAll()
        _ = c.get("src")
        c.call(.basicReject(BasicReject(deliveryTag: 1, requeue: false)))
        // The copy is written but not synced: the original's record is still live.
        let before = try QueueStore.recover(
            directory: store.queueDirectory("src"), segmentSize: 32 << 20, logger: TestStoreDirectory.logger)
        #expect(before.messages.count == 1)
        syncs.completeAll()
        c.call(.channelFlow(ChannelFlow(active: true)))
        let after = try QueueStore.recover(
            directory: store.queueDirectory("src"), segmentSize: 32 << 20, logger: TestStoreDirectory.logger)
        #expect(after.messages.count == 0)
        let copies = try QueueStore.recover(
            directory: store.queueDirectory("dead"), segmentSize: 32 << 20, logger: TestStoreDirectory.logger)
        #expect(copies.messages.count == 1)
    }
}

/// A syncer that holds syncs until the test completes them.
private final class HeldSyncs: @unchecked Sendable {
    private var completions: [@Sendable () -> Void] = []

    var syncer: MessageStore.Syncer {
        { [self] fds, _, completion in
            for fd in fds { fdatasync(fd) }
            completions.append(completion)
        }
    }

    func completeAll() {
        while !completions.isEmpty {
            let pending = completions
            completions.removeAll()
            for c in pending { c() }
        }
    }
}
