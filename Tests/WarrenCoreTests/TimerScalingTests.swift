import AMQPProtocol
import Testing

@testable import WarrenCore

/// The vhost's timer visits only queues whose deadline has come: 100 000 idle queues with TTLs
/// and expiries cost nothing per tick.
@Suite struct TimerScalingTests {
    @Test func idleQueuesWithTTLsAndExpiriesAreNotVisited() throws {
        let vhost = VirtualHost(name: "/")
        let client = TestClient(vhost)
        client.openChannel()
        let arguments: FieldTable = ["x-message-ttl": .int32(60_000), "x-expires": .int32(3_600_000)]
        for i in 0..<100_000 {
            _ = try vhost.declareQueue(
                name: "q\(i)", passive: false, durable: false, exclusive: false, autoDelete: false,
                arguments: arguments, sessionID: 1)
        }
        client.publish("m", routingKey: "q7")
        let start = MonotonicClock.milliseconds()
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for step in 1...1000 { vhost.tick(now: start + UInt64(step)) }
        }
        #expect(vhost.timerVisits == 0)
        // 1000 ticks over 100 000 queues: a scan would take seconds; a peek takes microseconds.
        #expect(elapsed < .milliseconds(200), "\(elapsed)")
        #expect(vhost.queues["q7"]?.messageCount == 1)

        // The message's TTL comes first: only its queue is visited.
        vhost.tick(now: start + 60_020)
        #expect(vhost.queues["q7"]?.messageCount == 0)
        #expect(vhost.timerVisits == 1)
        // Then every queue expires, unused for an hour.
        vhost.tick(now: start + 3_600_100)
        #expect(vhost.queues.isEmpty)
    }

    @Test func headExpiryIsScheduledWhenAnEarlierMessageLeavesByGet() throws {
        let vhost = VirtualHost(name: "/")
        let client = TestClient(vhost)
        client.openChannel()
        client.declareQueue("q")
        var forever = BasicProperties()
        forever.expiration = "100000000"
        var short = BasicProperties()
        short.expiration = "50"
        client.publish("long", routingKey: "q", properties: forever)
        client.publish("short", routingKey: "q", properties: short)
        // Only the head expires, so "short" waits behind "long" until that is taken.
        let start = MonotonicClock.milliseconds()
        vhost.tick(now: start + 200)
        #expect(vhost.queues["q"]?.messageCount == 2)
        #expect(client.get("q", noAck: true).first?.contains("get-ok") == true)
        vhost.tick(now: start + 200)
        #expect(vhost.queues["q"]?.messageCount == 0)
    }

    @Test func expiryCountsFromTheLastConsumerLeaving() throws {
        let vhost = VirtualHost(name: "/")
        let client = TestClient(vhost)
        client.openChannel()
        _ = try vhost.declareQueue(
            name: "e", passive: false, durable: false, exclusive: false, autoDelete: false,
            arguments: ["x-expires": .int32(1000)], sessionID: 1)
        _ = client.consume("e", tag: "c")
        let start = MonotonicClock.milliseconds()
        vhost.tick(now: start + 5000)
        #expect(vhost.queues["e"] != nil)
        client.call(.basicCancel(BasicCancel(consumerTag: "c")))
        let left = MonotonicClock.milliseconds()
        vhost.tick(now: left + 500)
        #expect(vhost.queues["e"] != nil)
        vhost.tick(now: left + 1100)
        #expect(vhost.queues["e"] == nil)
    }
}
