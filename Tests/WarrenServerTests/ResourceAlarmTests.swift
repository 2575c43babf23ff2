import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenServer

@Suite("Resource alarm on a connection")
struct ResourceAlarmTests {
    /// Handshake announcing connection.blocked, a channel, and one publish.
    private func publishingConnection() throws -> ConnectionHarness {
        let h = try ConnectionHarness()
        try h.writeProtocolHeader()
        try h.send(
            .connectionStartOk(
                ConnectionStartOk(
                    clientProperties: ["capabilities": .table(["connection.blocked": .boolean(true)])],
                    mechanism: "PLAIN", response: Array("\u{0}guest\u{0}guest".utf8), locale: "en_US")))
        try h.send(.connectionTuneOk(ConnectionTuneOk(channelMax: 2047, frameMax: 131072, heartbeat: 0)))
        try h.send(.connectionOpen(ConnectionOpen(virtualHost: "/")))
        _ = try h.readFrames()
        try h.openChannel()
        try h.send(.queueDeclare(QueueDeclare(queue: "alarmed")), channel: 1)
        try h.publish("before", routingKey: "alarmed")
        _ = try h.readFrames()
        return h
    }

    @Test func publisherIsToldWhenBlockedAndWhenUnblocked() throws {
        let h = try publishingConnection()
        h.channel.pipeline.fireUserInboundEventTriggered(ResourceAlarmEvent(raised: [.disk]))
        #expect(try h.readMethods() == [.connectionBlocked(ConnectionBlocked(reason: "low on disk"))])
        h.channel.pipeline.fireUserInboundEventTriggered(ResourceAlarmEvent(raised: []))
        #expect(try h.readMethods() == [.connectionUnblocked(ConnectionUnblocked())])
        // Once unblocked, publishing goes through again.
        try h.publish("after", routingKey: "alarmed")
        try h.send(.basicGet(BasicGet(queue: "alarmed", noAck: true)), channel: 1)
        try h.send(.basicGet(BasicGet(queue: "alarmed", noAck: true)), channel: 1)
        let bodies = try h.readFrames().compactMap { frame -> String? in
            if case .body(_, let body) = frame { return String(buffer: body) }
            return nil
        }
        #expect(bodies == ["before", "after"])
    }

    @Test func memoryAlarmBlocksWithItsReason() throws {
        let h = try publishingConnection()
        h.channel.pipeline.fireUserInboundEventTriggered(ResourceAlarmEvent(raised: [.memory]))
        #expect(try h.readMethods() == [.connectionBlocked(ConnectionBlocked(reason: "low on memory"))])
        h.channel.pipeline.fireUserInboundEventTriggered(ResourceAlarmEvent(raised: []))
        #expect(try h.readMethods() == [.connectionUnblocked(ConnectionUnblocked())])
    }

    @Test func clearingOneAlarmDoesNotUnblockWhileTheOtherIsRaised() throws {
        let h = try publishingConnection()
        h.channel.pipeline.fireUserInboundEventTriggered(ResourceAlarmEvent(raised: [.disk, .memory]))
        #expect(try h.readMethods() == [.connectionBlocked(ConnectionBlocked(reason: "low on disk & memory"))])
        h.channel.pipeline.fireUserInboundEventTriggered(ResourceAlarmEvent(raised: [.memory]))
        #expect(try h.readMethods() == [])
        h.channel.pipeline.fireUserInboundEventTriggered(ResourceAlarmEvent(raised: []))
        #expect(try h.readMethods() == [.connectionUnblocked(ConnectionUnblocked())])
    }

    @Test func aSecondAlarmWhileBlockedSendsNothingMore() throws {
        let h = try publishingConnection()
        h.channel.pipeline.fireUserInboundEventTriggered(ResourceAlarmEvent(raised: [.memory]))
        #expect(try h.readMethods() == [.connectionBlocked(ConnectionBlocked(reason: "low on memory"))])
        h.channel.pipeline.fireUserInboundEventTriggered(ResourceAlarmEvent(raised: [.disk, .memory]))
        #expect(try h.readMethods() == [])
    }

    @Test func connectionThatNeverPublishedIsNotBlocked() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        h.channel.pipeline.fireUserInboundEventTriggered(ResourceAlarmEvent(raised: [.disk]))
        #expect(try h.readMethods() == [])
        try h.openChannel()
    }
}
