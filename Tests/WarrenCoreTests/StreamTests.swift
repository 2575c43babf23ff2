import AMQPProtocol
import Foundation
import Logging
import NIOCore
import Testing

@testable import WarrenCore

/// Streams (`x-queue-type: stream`) as RabbitMQ 3.10 offers them over AMQP 0-9-1: declaration
/// rules, offsets, independent consumers, prefetch, retention and recovery. Each test has a
/// store in a directory of its own.
@Suite struct StreamTests {
    final class Broker {
        let dir = NSTemporaryDirectory() + "warren-stream-test-" + UUID().uuidString
        var vhost: VirtualHost
        var store: MessageStore

        init() throws {
            vhost = makeVHost()
            store = try MessageStore(directory: dir, logger: streamLogger, syncer: MessageStore.inlineSyncer)
            try vhost.attach(store)
        }

        /// Drops the vhost and opens the same directory again, as a restart does.
        func restart() throws {
            for q in vhost.queues.values { q.stream?.log.fdsToClose.removeAll() }
            vhost = makeVHost()
            store = try MessageStore(directory: dir, logger: streamLogger, syncer: MessageStore.inlineSyncer)
            try vhost.attach(store)
        }

        func client(_ id: UInt64 = 1) -> TestClient {
            let c = TestClient(vhost, id: id)
            c.openChannel()
            return c
        }

        deinit { try? FileManager.default.removeItem(atPath: dir) }
    }

    static let stream: FieldTable = ["x-queue-type": .string("stream")]

    static func declare(_ c: TestClient, _ name: String, _ extra: FieldTable = [:], durable: Bool = true) -> [String] {
        var arguments = stream
        for e in extra.entries { arguments[e.key] = e.value }
        return c.call(.queueDeclare(QueueDeclare(queue: name, durable: durable, arguments: arguments)))
    }

    static func consume(
        _ c: TestClient, _ queue: String, tag: String, offset: FieldValue? = nil, prefetch: UInt16 = 100
    ) -> [String] {
        c.call(.basicQos(BasicQos(prefetchCount: prefetch)))
        var arguments: FieldTable = [:]
        if let offset { arguments["x-stream-offset"] = offset }
        return c.call(.basicConsume(BasicConsume(queue: queue, consumerTag: tag, arguments: arguments)))
    }

    /// Publishes each body in a batch of its own (each its own chunk).
    static func publish(_ c: TestClient, _ queue: String, _ bodies: [String]) {
        for b in bodies { c.publish(b, routingKey: queue) }
    }

    static func offsets(_ output: [SessionOutput]) -> [Int64] {
        output.compactMap { o -> Int64? in
            guard case .deliver = o, let h = try? o.message?.properties.decode().headers?["x-stream-offset"],
                case .int64(let n) = h
            else { return nil }
            return n
        }
    }

    // MARK: Declaration

    @Test func declarationRulesAreRabbitMQs() throws {
        let b = try Broker()
        let c = b.client()
        #expect(Self.declare(c, "s", durable: false) == ["1:channel.close 406 50/10"])
        c.openChannel()
        #expect(
            c.call(.queueDeclare(QueueDeclare(queue: "s", durable: true, exclusive: true, arguments: Self.stream)))
                == ["1:channel.close 406 50/10"])
        c.openChannel()
        #expect(
            c.call(.queueDeclare(QueueDeclare(queue: "s", durable: true, autoDelete: true, arguments: Self.stream)))
                == ["1:channel.close 406 50/10"])
        for bad: (String, FieldValue) in [
            ("x-message-ttl", .int32(5)), ("x-max-length", .int32(5)), ("x-overflow", .string("reject-publish")),
            ("x-dead-letter-exchange", .string("d")), ("x-max-age", .int32(5)), ("x-max-length-bytes", .int32(-1)),
        ] {
            c.openChannel()
            #expect(Self.declare(c, "s", [bad.0: bad.1]) == ["1:channel.close 406 50/10"], "\(bad.0)")
        }
        c.openChannel()
        #expect(Self.declare(c, "s", ["x-max-age": .string("bogus")]) == ["connection.close 541 50/10"])
        let c2 = b.client(2)
        #expect(
            Self.declare(c2, "s", ["x-max-age": .string("7D"), "x-stream-max-segment-size-bytes": .int32(1000)])
                == ["1:queue.declare-ok s 0 0"])
        #expect(b.vhost.queues["s"]?.stream != nil)
        #expect(Self.declare(c2, "s", ["x-max-age": .string("1h")]) == ["1:channel.close 406 50/10"])
        c2.openChannel()
        #expect(c2.call(.queueDeclare(QueueDeclare(queue: "s", durable: true))) == ["1:channel.close 406 50/10"])
    }

    @Test func consumingNeedsPrefetchAndAcksAndGetAndPurgeAreRefused() throws {
        let b = try Broker()
        let c = b.client()
        _ = Self.declare(c, "s")
        #expect(c.call(.basicConsume(BasicConsume(queue: "s", consumerTag: "t"))) == ["1:channel.close 406 60/20"])
        c.openChannel()
        c.call(.basicQos(BasicQos(prefetchCount: 10)))
        #expect(
            c.call(.basicConsume(BasicConsume(queue: "s", consumerTag: "t", noAck: true)))
                == ["connection.close 540 60/20"])
        let c2 = b.client(2)
        #expect(c2.get("s") == ["connection.close 540 60/70"])
        let c3 = b.client(3)
        #expect(c3.call(.queuePurge(QueuePurge(queue: "s"))) == ["connection.close 540 50/30"])
        let c4 = b.client(4)
        c4.call(.basicQos(BasicQos(prefetchCount: 10)))
        c4.call(.basicQos(BasicQos(prefetchCount: 10, global: true)))
        #expect(
            c4.call(.basicConsume(BasicConsume(queue: "s", consumerTag: "t"))) == ["connection.close 540 60/20"])
        let c5 = b.client(5)
        #expect(
            Self.consume(c5, "s", tag: "t", offset: .string("nonsense")).last == "connection.close 541 60/20")
    }

    // MARK: Offsets

    @Test func offsetsFirstLastNextNumberAndTimestamp() throws {
        let b = try Broker()
        let c = b.client()
        _ = Self.declare(c, "s")
        let stream = try #require(b.vhost.queues["s"]?.stream)
        var now: Int64 = 1_000_000_000_000
        stream.clock = { now }
        for i in 0..<5 {
            now += 1000
            c.publish("m\(i)", routingKey: "s")
        }
        func bodies(_ offset: FieldValue?, id: UInt64) -> [String] {
            let r = b.client(id)
            return deliveredBodies(Self.consume(r, "s", tag: "t", offset: offset))
        }
        #expect(bodies(.string("first"), id: 2) == ["m0", "m1", "m2", "m3", "m4"])
        #expect(bodies(.string("last"), id: 3) == ["m4"])
        #expect(bodies(.string("next"), id: 4) == [])
        #expect(bodies(nil, id: 5) == [])
        #expect(bodies(.int64(2), id: 6) == ["m2", "m3", "m4"])
        #expect(bodies(.int32(-1), id: 7) == ["m0", "m1", "m2", "m3", "m4"])
        #expect(bodies(.int64(100), id: 8) == [])
        // Chunk timestamps are 1_000_000_001_000 + 1000 * i (ms); AMQP timestamps are seconds.
        #expect(bodies(.timestamp(1_000_000_003), id: 9) == ["m2", "m3", "m4"])
        #expect(bodies(.timestamp(1_000_000_100), id: 10) == [])
        now += 60_000
        #expect(bodies(.string("1m"), id: 11) == ["m4"])  // chunks written in the last minute
        #expect(bodies(.string("1h"), id: 12) == ["m0", "m1", "m2", "m3", "m4"])

        // Each delivery carries its offset, added after the publisher's own headers.
        let r = b.client(13)
        let out = r.send(
            [
                .method(channel: 1, .basicQos(BasicQos(prefetchCount: 10))),
                .method(
                    channel: 1,
                    .basicConsume(
                        BasicConsume(queue: "s", consumerTag: "t", arguments: ["x-stream-offset": .int64(3)]))),
            ])
        #expect(Self.offsets(out) == [3, 4])
    }

    @Test func lastStartsAtTheLastChunk() throws {
        let b = try Broker()
        let c = b.client()
        _ = Self.declare(c, "s")
        c.publish("a", "b", routingKey: "s")
        c.publish("c", "d", "e", routingKey: "s")  // one batch: one chunk
        let r = b.client(2)
        #expect(deliveredBodies(Self.consume(r, "s", tag: "t", offset: .string("last"))) == ["c", "d", "e"])
    }

    // MARK: Consumers

    @Test func consumersReadIndependentlyAndNothingIsRemoved() throws {
        let b = try Broker()
        let c = b.client()
        _ = Self.declare(c, "s")
        Self.publish(c, "s", ["a", "b", "c"])
        let r1 = b.client(2)
        let r2 = b.client(3)
        #expect(deliveredBodies(Self.consume(r1, "s", tag: "one", offset: .string("first"))) == ["a", "b", "c"])
        #expect(deliveredBodies(Self.consume(r2, "s", tag: "two", offset: .int64(1))) == ["b", "c"])
        r1.ack(3, multiple: true)
        // Both at the tail: new messages reach both.
        c.publish("d", routingKey: "s")
        #expect(deliveredBodies(r1.send([]).map(\.summary)) == ["d"])
        #expect(deliveredBodies(r2.send([]).map(\.summary)) == ["d"])
        #expect(b.vhost.queues["s"]?.streamSummary?.messages == 4)
        #expect(b.vhost.queues["s"]?.consumerCount == 2)
        let r3 = b.client(4)
        #expect(deliveredBodies(Self.consume(r3, "s", tag: "three", offset: .string("first"))).count == 4)
    }

    @Test func prefetchLimitsEachConsumerAndAcksOnlyFreeCredit() throws {
        let b = try Broker()
        let c = b.client()
        _ = Self.declare(c, "s")
        Self.publish(c, "s", (0..<6).map { "m\($0)" })
        let r = b.client(2)
        #expect(deliveredBodies(Self.consume(r, "s", tag: "t", offset: .string("first"), prefetch: 2)) == ["m0", "m1"])
        #expect(deliveredBodies(r.ack(1)) == ["m2"])
        #expect(deliveredBodies(r.ack(3, multiple: true)) == ["m3", "m4"])
        // Nack and reject are refused, as in RabbitMQ.
        #expect(r.call(.basicNack(BasicNack(deliveryTag: 4, requeue: true))) == ["connection.close 540 60/120"])
        // Closing a channel with unacked deliveries puts nothing back.
        let r2 = b.client(3)
        _ = Self.consume(r2, "s", tag: "t", offset: .string("first"), prefetch: 3)
        r2.close()
        #expect(b.vhost.queues["s"]?.messageCount == 0)
        #expect(b.vhost.queues["s"]?.streamSummary?.messages == 6)
    }

    // MARK: Disk

    @Test func consumersBehindReadFromTheSegmentFiles() throws {
        let b = try Broker()
        let c = b.client()
        _ = Self.declare(c, "s", ["x-stream-max-segment-size-bytes": .int32(4000)])
        let stream = try #require(b.vhost.queues["s"]?.stream)
        stream.tailCacheBytes = 0
        let bodies = (0..<300).map { String(format: "message-%04d-", $0) + String(repeating: "x", count: 50) }
        for chunk in stride(from: 0, to: bodies.count, by: 7) {
            c.send(bodies[chunk..<min(chunk + 7, bodies.count)].map { c.publishCommand($0, routingKey: "s") })
        }
        #expect(stream.log.segments.count > 5)
        let r = b.client(2)
        var got = deliveredBodies(Self.consume(r, "s", tag: "t", offset: .string("first"), prefetch: 50))
        var tag: UInt64 = 50
        while got.count < bodies.count {
            let more = deliveredBodies(r.ack(tag, multiple: true))
            if more.isEmpty { break }
            got += more
            tag += UInt64(more.count)
        }
        #expect(got == bodies)
        // And from the middle of a segment, through the index.
        let r2 = b.client(3)
        #expect(
            deliveredBodies(Self.consume(r2, "s", tag: "t", offset: .int64(123), prefetch: 3))
                == Array(bodies[123..<126]))
    }

    // MARK: Retention

    @Test func retentionBySizeDeletesWholeOldSegments() throws {
        let b = try Broker()
        let c = b.client()
        _ = Self.declare(c, "s", ["x-stream-max-segment-size-bytes": .int32(1000), "x-max-length-bytes": .int32(3000)])
        let stream = try #require(b.vhost.queues["s"]?.stream)
        Self.publish(c, "s", (0..<100).map { String(format: "%03d", $0) + String(repeating: "y", count: 60) })
        #expect(stream.log.totalBytes <= 3000 + 1000)
        #expect(stream.log.firstOffset > 0)
        #expect(stream.log.nextOffset == 100)
        let first = stream.log.firstOffset
        let r = b.client(2)
        let got = deliveredBodies(Self.consume(r, "s", tag: "t", offset: .string("first"), prefetch: 1000))
        #expect(got.first?.hasPrefix(String(format: "%03d", first)) == true)
        #expect(got.count == 100 - Int(first))
        #expect(stream.log.segments.count >= 2)
    }

    @Test func retentionByAgeAtRollOverAndOnTheTimer() throws {
        let b = try Broker()
        let c = b.client()
        _ = Self.declare(c, "s", ["x-stream-max-segment-size-bytes": .int32(500), "x-max-age": .string("10s")])
        let stream = try #require(b.vhost.queues["s"]?.stream)
        var now: Int64 = 2_000_000_000_000
        stream.clock = { now }
        Self.publish(c, "s", (0..<20).map { "old-\($0)-" + String(repeating: "z", count: 40) })
        let segments = stream.log.segments.count
        #expect(segments > 2)
        #expect(stream.log.firstOffset == 0)
        // Time passes: the timer removes every closed segment, never the current one.
        now += 11_000
        let q = try #require(b.vhost.queues["s"])
        #expect(q.nextDeadline() != nil)
        b.vhost.tick(now: MonotonicClock.milliseconds() + 20_000)
        #expect(stream.log.segments.count == 1)
        #expect(stream.log.firstOffset > 0)
        #expect(stream.log.nextOffset == 20)
        let r = b.client(2)
        let got = deliveredBodies(Self.consume(r, "s", tag: "t", offset: .string("first")))
        #expect(got.count == 20 - Int(stream.log.firstOffset))
    }

    @Test func policiesSetRetention() throws {
        let b = try Broker()
        let c = b.client()
        _ = Self.declare(c, "s", ["x-stream-max-segment-size-bytes": .int32(500)])
        let stream = try #require(b.vhost.queues["s"]?.stream)
        Self.publish(c, "s", (0..<40).map { "p\($0)-" + String(repeating: "z", count: 40) })
        #expect(stream.log.firstOffset == 0)
        var params = RuntimeParameters()
        try params.setPolicy(
            PolicyDefinition(
                vhost: "/", name: "limit", pattern: "^s$", applyTo: "queues",
                definition: ["max-length-bytes": .int(1000)], priority: 0))
        b.vhost.setPolicies(VhostPolicies(vhost: "/", parameters: params))
        #expect(stream.log.firstOffset > 0)
        #expect(stream.log.totalBytes <= 1500)
        #expect(b.vhost.queues["s"]?.policyName == "limit")
    }

    // MARK: Recovery

    @Test func streamAndOffsetsSurviveARestart() throws {
        let b = try Broker()
        var c = b.client()
        _ = Self.declare(c, "s", ["x-stream-max-segment-size-bytes": .int32(600), "x-max-length-bytes": .int32(2000)])
        c.call(.queueBind(QueueBind(queue: "s", exchange: "amq.fanout")))
        Self.publish(c, "s", (0..<50).map { "r\($0)-" + String(repeating: "w", count: 30) })
        let first = try #require(b.vhost.queues["s"]?.stream?.log.firstOffset)
        #expect(first > 0)
        try b.restart()
        let q = try #require(b.vhost.queues["s"])
        let stream = try #require(q.stream)
        // Retention is evaluated again at start: it may only have removed more.
        #expect(stream.log.firstOffset >= first)
        #expect(stream.log.nextOffset == 50)
        c = b.client()
        c.publish("after", exchange: "amq.fanout", routingKey: "")
        let r = b.client(2)
        let out = r.send(
            [
                .method(channel: 1, .basicQos(BasicQos(prefetchCount: 100))),
                .method(
                    channel: 1,
                    .basicConsume(
                        BasicConsume(queue: "s", consumerTag: "t", arguments: ["x-stream-offset": .int64(48)]))),
            ])
        #expect(deliveredBodies(out.map(\.summary)).last == "after")
        #expect(Self.offsets(out) == [48, 49, 50])
        // A torn tail is cut and the stream goes on after it.
        let path = stream.log.current.path
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0x57, 0x53, 0x54, 0x52, 0, 0, 1]))
        try handle.close()
        try b.restart()
        #expect(b.vhost.queues["s"]?.stream?.log.nextOffset == 51)
    }
}

private let streamLogger: Logger = {
    var logger = Logger(label: "stream-test")
    logger.logLevel = .critical
    return logger
}()
