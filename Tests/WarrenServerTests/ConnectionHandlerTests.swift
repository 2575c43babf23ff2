import AMQPProtocol
import NIOCore
import NIOEmbedded
import Testing

@testable import WarrenCore
@testable import WarrenServer

/// The connection handler end to end, bytes in and frames out, over an EmbeddedChannel.
@Suite struct ConnectionHandlerTests {
    @Test func wrongProtocolHeaderIsAnsweredWithAMQP091AndTheSocketCloses() throws {
        let h = try ConnectionHarness()
        try h.write(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        let out = try h.readBytes()
        #expect(Array(out.readableBytesView) == Array("AMQP".utf8) + [0, 0, 9, 1])
        #expect(!h.isActive)
    }

    @Test func protocolHeaderOfAnotherAMQPVersionIsRejected() throws {
        let h = try ConnectionHarness()
        try h.write(ByteBuffer(bytes: Array("AMQP".utf8) + [1, 1, 0, 10]))
        #expect(Array(try h.readBytes().readableBytesView) == Array("AMQP".utf8) + [0, 0, 9, 1])
        #expect(!h.isActive)
    }

    @Test func protocolHeaderSplitAcrossReadsIsAccepted() throws {
        let h = try ConnectionHarness()
        try h.write(ByteBuffer(string: "AMQ"))
        #expect(try h.readFrames().isEmpty)
        try h.write(ByteBuffer(bytes: Array("P".utf8) + [0, 0, 9, 1]))
        #expect(try h.readFrames().map(\.methodName) == ["connection.start"])
    }

    @Test func fullHandshakeProducesStartTuneAndOpenOk() throws {
        let h = try ConnectionHarness()
        try h.writeProtocolHeader()
        let start = try h.readFrames()
        #expect(start.count == 1)
        guard case .method(0, .connectionStart(let s)) = start.first else {
            Issue.record("expected connection.start, got \(start)")
            return
        }
        #expect(s.versionMajor == 0 && s.versionMinor == 9)

        try h.send(
            .connectionStartOk(
                ConnectionStartOk(mechanism: "PLAIN", response: Array("\u{0}guest\u{0}guest".utf8), locale: "en_US")))
        #expect(
            try h.readFrames() == [
                .method(channel: 0, .connectionTune(ConnectionTune(channelMax: 2047, frameMax: 131072, heartbeat: 60)))
            ])
        try h.send(.connectionTuneOk(ConnectionTuneOk(channelMax: 2047, frameMax: 131072, heartbeat: 0)))
        #expect(try h.readFrames().isEmpty)
        try h.send(.connectionOpen(ConnectionOpen(virtualHost: "/")))
        #expect(try h.readFrames() == [.method(channel: 0, .connectionOpenOk(ConnectionOpenOk()))])
        #expect(h.isActive)
        #expect(h.vhost.sessions.count == 1)
    }

    @Test func wholeHandshakeInOneReadIsHandled() throws {
        let h = try ConnectionHarness()
        var b = ByteBuffer()
        b.writeProtocolHeader()
        b.writeMethodFrame(
            channel: 0,
            .connectionStartOk(ConnectionStartOk(mechanism: "PLAIN", response: Array("\u{0}guest\u{0}guest".utf8))))
        b.writeMethodFrame(
            channel: 0, .connectionTuneOk(ConnectionTuneOk(channelMax: 10, frameMax: 4096, heartbeat: 0)))
        b.writeMethodFrame(channel: 0, .connectionOpen(ConnectionOpen(virtualHost: "/")))
        b.writeMethodFrame(channel: 1, .channelOpen(ChannelOpen()))
        try h.write(b)
        #expect(
            try h.readFrames().map(\.methodName) == [
                "connection.start", "connection.tune", "connection.open-ok", "channel.open-ok",
            ])
    }

    @Test func badPasswordClosesTheSocketWithoutAReply() throws {
        let h = try ConnectionHarness()
        try h.writeProtocolHeader()
        _ = try h.readFrames()
        try h.send(
            .connectionStartOk(ConnectionStartOk(mechanism: "PLAIN", response: Array("\u{0}guest\u{0}nope".utf8))))
        #expect(try h.readFrames().isEmpty)
        #expect(!h.isActive)
    }

    @Test func guestFromARemoteAddressIsRefused() throws {
        let h = try ConnectionHarness(
            loopbackGuest: true, remote: try SocketAddress(ipAddress: "10.1.2.3", port: 40000))
        try h.writeProtocolHeader()
        _ = try h.readFrames()
        try h.send(
            .connectionStartOk(
                ConnectionStartOk(
                    clientProperties: ["capabilities": .table(["authentication_failure_close": .boolean(true)])],
                    mechanism: "PLAIN", response: Array("\u{0}guest\u{0}guest".utf8))))
        let frames = try h.readFrames()
        guard case .method(0, .connectionClose(let close)) = frames.first else {
            Issue.record("expected connection.close, got \(frames)")
            return
        }
        #expect(close.replyCode == 403)
    }

    @Test func guestFromLoopbackIsAccepted() throws {
        let h = try ConnectionHarness(loopbackGuest: true)
        let frames = try h.handshake()
        #expect(frames.last == .method(channel: 0, .connectionOpenOk(ConnectionOpenOk())))
    }

    @Test func tuneOkWithTooSmallFrameMaxIsClosedWith530() throws {
        let h = try ConnectionHarness()
        let frames = try h.handshake(frameMax: 1024)
        guard case .method(0, .connectionClose(let close)) = frames.last else {
            Issue.record("expected connection.close, got \(frames)")
            return
        }
        #expect(close.replyCode == 530)
        #expect(close.classID == 10 && close.methodID == 31)
        // The client's close-ok ends the connection.
        try h.send(.connectionCloseOk(ConnectionCloseOk()))
        #expect(!h.isActive)
    }

    @Test func unknownVhostIsClosedWith530() throws {
        let h = try ConnectionHarness()
        try h.writeProtocolHeader()
        try h.send(
            .connectionStartOk(ConnectionStartOk(mechanism: "PLAIN", response: Array("\u{0}guest\u{0}guest".utf8))))
        try h.send(.connectionTuneOk(ConnectionTuneOk(channelMax: 10, frameMax: 4096, heartbeat: 0)))
        try h.send(.connectionOpen(ConnectionOpen(virtualHost: "nope")))
        let frames = try h.readFrames()
        guard case .method(0, .connectionClose(let close)) = frames.last else {
            Issue.record("expected connection.close, got \(frames)")
            return
        }
        #expect(close.replyCode == 530)
    }

    @Test func publishAndGetRoundTripThroughTheVhost() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.openChannel()
        try h.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 1)
        #expect(
            try h.readFrames() == [
                .method(channel: 1, .queueDeclareOk(QueueDeclareOk(queue: "q", messageCount: 0, consumerCount: 0)))
            ])
        let properties = BasicProperties(contentType: "text/plain", correlationID: "c1")
        try h.publish("hello, warren", routingKey: "q", properties: properties)
        #expect(try h.readFrames().isEmpty)
        #expect(h.vhost.queues["q"]?.messageCount == 1)

        try h.send(.basicGet(BasicGet(queue: "q", noAck: true)), channel: 1)
        let frames = try h.readFrames()
        #expect(frames.count == 3)
        #expect(
            frames.first
                == .method(
                    channel: 1,
                    .basicGetOk(
                        BasicGetOk(deliveryTag: 1, redelivered: false, exchange: "", routingKey: "q", messageCount: 0)))
        )
        guard frames.count == 3, case .header(1, let header) = frames[1], case .body(1, let body) = frames[2] else {
            Issue.record("expected header and body frames, got \(frames)")
            return
        }
        #expect(header.bodySize == 13)
        #expect(try header.properties.decode() == properties)
        #expect(String(buffer: body) == "hello, warren")
    }

    @Test func publishedBodySplitOverManyFramesIsDeliveredWhole() throws {
        let h = try ConnectionHarness()
        try h.handshake(frameMax: 4096)
        try h.openChannel()
        try h.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 1)
        try h.send(.basicConsume(BasicConsume(queue: "q", consumerTag: "c", noAck: true)), channel: 1)
        _ = try h.readFrames()
        let body = String(repeating: "0123456789", count: 1000)  // 10,000 bytes: 3 frames at 4096
        try h.publish(body, routingKey: "q", frameMax: 4096)
        let frames = try h.readFrames()
        #expect(frames.first?.methodName == "basic.deliver")
        let bodies = frames.compactMap { f -> ByteBuffer? in
            if case .body(_, let b) = f { return b }
            return nil
        }
        #expect(bodies.count == 3)
        #expect(bodies.allSatisfy { $0.readableBytes <= 4096 - 8 })
        #expect(bodies.map { String(buffer: $0) }.joined() == body)
    }

    @Test func contentOfTwoChannelsMayInterleave() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.openChannel(1)
        try h.openChannel(2)
        try h.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 1)
        _ = try h.readFrames()
        try h.write([
            .method(channel: 1, .basicPublish(BasicPublish(routingKey: "q"))),
            .method(channel: 2, .basicPublish(BasicPublish(routingKey: "q"))),
            .header(channel: 2, ContentHeader(bodySize: 3)),
            .header(channel: 1, ContentHeader(bodySize: 3)),
            .body(channel: 1, ByteBuffer(string: "one")),
            .heartbeat,
            .body(channel: 2, ByteBuffer(string: "two")),
        ])
        #expect(try h.readFrames().isEmpty)
        try h.send(.basicGet(BasicGet(queue: "q", noAck: true)), channel: 1)
        try h.send(.basicGet(BasicGet(queue: "q", noAck: true)), channel: 1)
        let bodies = try h.readFrames().compactMap { f -> String? in
            if case .body(_, let b) = f { return String(buffer: b) }
            return nil
        }
        #expect(bodies == ["one", "two"])
    }

    @Test func heartbeatBetweenContentFramesIsAllowed() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.openChannel()
        try h.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 1)
        _ = try h.readFrames()
        try h.write([
            .method(channel: 1, .basicPublish(BasicPublish(routingKey: "q"))),
            .heartbeat,
            .header(channel: 1, ContentHeader(bodySize: 2)),
            .heartbeat,
            .body(channel: 1, ByteBuffer(string: "ok")),
        ])
        #expect(try h.readFrames().isEmpty)
        #expect(h.vhost.queues["q"]?.messageCount == 1)
    }

    @Test func emptyBodyPublishNeedsNoBodyFrame() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.openChannel()
        try h.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 1)
        _ = try h.readFrames()
        try h.write([
            .method(channel: 1, .basicPublish(BasicPublish(routingKey: "q"))),
            .header(channel: 1, ContentHeader(bodySize: 0)),
        ])
        try h.send(.basicGet(BasicGet(queue: "q", noAck: true)), channel: 1)
        let frames = try h.readFrames()
        #expect(frames.map(\.methodName) == ["basic.get-ok", nil])
        if case .header(1, let header)? = frames.last { #expect(header.bodySize == 0) }
    }

    @Test func frameSplitAcrossReadsIsReassembled() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        var b = ByteBuffer()
        b.writeMethodFrame(channel: 1, .channelOpen(ChannelOpen()))
        b.writeMethodFrame(channel: 1, .queueDeclare(QueueDeclare(queue: "split-queue")))
        let bytes = Array(b.readableBytesView)
        for byte in bytes { try h.write(ByteBuffer(bytes: [byte])) }
        #expect(try h.readFrames().map(\.methodName) == ["channel.open-ok", "queue.declare-ok"])
    }

    @Test func contentHeaderWithoutPublishIsUnexpectedFrame505() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.openChannel()
        try h.write([.header(channel: 1, ContentHeader(bodySize: 1))])
        let frames = try h.readFrames()
        guard case .method(0, .connectionClose(let close)) = frames.last else {
            Issue.record("expected connection.close, got \(frames)")
            return
        }
        #expect(close.replyCode == 505)
    }

    @Test func methodOnAnUnopenedChannelIsChannelError504() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 5)
        let frames = try h.readFrames()
        guard case .method(0, .connectionClose(let close)) = frames.last else {
            Issue.record("expected connection.close, got \(frames)")
            return
        }
        #expect(close.replyCode == 504)
    }

    @Test func channelErrorClosesOnlyThatChannel() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.openChannel(1)
        try h.openChannel(2)
        try h.send(.queueDeclare(QueueDeclare(queue: "nope", passive: true)), channel: 1)
        let frames = try h.readFrames()
        guard case .method(1, .channelClose(let close)) = frames.first, frames.count == 1 else {
            Issue.record("expected channel.close on 1, got \(frames)")
            return
        }
        #expect(close.replyCode == 404)
        #expect(close.classID == 50 && close.methodID == 10)
        // Methods on the closing channel are dropped until close-ok.
        try h.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 1)
        #expect(try h.readFrames().isEmpty)
        try h.send(.channelCloseOk(ChannelCloseOk()), channel: 1)
        // Channel 2 still works, and channel 1 can be opened again.
        try h.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 2)
        #expect(try h.readFrames().map(\.methodName) == ["queue.declare-ok"])
        try h.openChannel(1)
    }

    @Test func contentOnAClosingChannelIsDroppedUntilCloseOk() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.openChannel(1)
        try h.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 1)
        _ = try h.readFrames()
        // A publish to a missing exchange: the server closes the channel with 404 ...
        try h.publish("lost", exchange: "missing", routingKey: "q")
        guard case .method(1, .channelClose(let close)) = try h.readFrames().first else {
            Issue.record("expected channel.close on 1")
            return
        }
        #expect(close.replyCode == 404)
        // ... and content the client sent meanwhile (a whole publish, and header and body frames
        // without their method) is dropped without an error, not published.
        try h.publish("in flight", routingKey: "q")
        try h.write([.header(channel: 1, ContentHeader(bodySize: 3)), .body(channel: 1, ByteBuffer(string: "odd"))])
        #expect(try h.readFrames().isEmpty)
        #expect(h.vhost.queues["q"]?.messageCount == 0)
        // After close-ok the channel opens again and publishes normally.
        try h.send(.channelCloseOk(ChannelCloseOk()), channel: 1)
        try h.openChannel(1)
        try h.publish("kept", routingKey: "q")
        #expect(try h.readFrames().isEmpty)
        #expect(h.vhost.queues["q"]?.messageCount == 1)
    }

    @Test func publishAnnouncingMoreThanMaxMessageSizeClosesTheChannelNotTheBroker() throws {
        let h = try ConnectionHarness(maxMessageSize: 1000)
        try h.handshake()
        try h.openChannel(1)
        try h.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 1)
        _ = try h.readFrames()
        // A header announcing a terabyte, then a first small body frame: refused at once, nothing
        // reserved for it.
        try h.write([
            .method(channel: 1, .basicPublish(BasicPublish(routingKey: "q"))),
            .header(channel: 1, ContentHeader(bodySize: 1 << 40)),
            .body(channel: 1, ByteBuffer(string: "0123456789")),
        ])
        guard case .method(1, .channelClose(let close)) = try h.readFrames().first else {
            Issue.record("expected channel.close on 1")
            return
        }
        #expect(close.replyCode == 406)
        #expect(
            close.replyText
                == "PRECONDITION_FAILED - message size 1099511627776 is larger than configured max size 1000")
        #expect(close.classID == 60 && close.methodID == 40)
        // The rest of that body is dropped; the connection stays open.
        try h.write([.body(channel: 1, ByteBuffer(string: "more"))])
        #expect(try h.readFrames().isEmpty)
        #expect(h.isActive)
        try h.send(.channelCloseOk(ChannelCloseOk()), channel: 1)
        try h.openChannel(1)
        // A body of exactly the limit is published.
        try h.publish(String(repeating: "x", count: 1000), routingKey: "q")
        #expect(try h.readFrames().isEmpty)
        #expect(h.vhost.queues["q"]?.messageCount == 1)
    }

    @Test func sessionConnectionErrorIsSentAsConnectionClose() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.openChannel()
        try h.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 1)
        try h.send(.basicConsume(BasicConsume(queue: "q", consumerTag: "dup")), channel: 1)
        _ = try h.readFrames()
        try h.send(.basicConsume(BasicConsume(queue: "q", consumerTag: "dup")), channel: 1)
        let frames = try h.readFrames()
        guard case .method(0, .connectionClose(let close)) = frames.last else {
            Issue.record("expected connection.close, got \(frames)")
            return
        }
        #expect(close.replyCode == 530)
        #expect(close.classID == 60 && close.methodID == 20)
        try h.send(.connectionCloseOk(ConnectionCloseOk()))
        #expect(!h.isActive)
    }

    @Test func clientCloseIsAnsweredWithCloseOkAndReleasesTheSession() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.openChannel()
        try h.send(.queueDeclare(QueueDeclare(queue: "ex", exclusive: true)), channel: 1)
        _ = try h.readFrames()
        #expect(h.vhost.queues["ex"] != nil)
        try h.send(.connectionClose(ConnectionClose(replyCode: 200, replyText: "bye")))
        #expect(try h.readFrames() == [.method(channel: 0, .connectionCloseOk(ConnectionCloseOk()))])
        #expect(!h.isActive)
        h.channel.embeddedEventLoop.run()
        #expect(h.vhost.queues["ex"] == nil)
        #expect(h.vhost.sessions.isEmpty)
    }

    @Test func brokerShutdownSendsConnectionForced() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        h.channel.pipeline.fireUserInboundEventTriggered(BrokerShutdownEvent())
        let frames = try h.readFrames()
        guard case .method(0, .connectionClose(let close)) = frames.last else {
            Issue.record("expected connection.close, got \(frames)")
            return
        }
        #expect(close.replyCode == 320)
    }

    @Test func heartbeatsAreSentAndASilentPeerIsDropped() throws {
        let h = try ConnectionHarness()
        try h.handshake(heartbeat: 2)
        // Ticks every second (half the interval): an idle connection gets heartbeat frames.
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(try h.readFrames().contains(.heartbeat))
        #expect(h.isActive)
        // Two missed intervals of silence from the client end the connection.
        h.channel.embeddedEventLoop.advanceTime(by: .seconds(5))
        #expect(!h.isActive)
    }

    @Test func clientHeartbeatsKeepTheConnectionAlive() throws {
        let h = try ConnectionHarness()
        try h.handshake(heartbeat: 2)
        for _ in 0..<10 {
            h.channel.embeddedEventLoop.advanceTime(by: .seconds(1))
            try h.write([.heartbeat])
        }
        #expect(h.isActive)
    }

    // MARK: Limits and protocol errors

    @Test func bodyFrameOfExactlyFrameMaxIsAcceptedAndOneByteMoreIsAFrameError() throws {
        let h = try ConnectionHarness()
        try h.handshake(frameMax: 4096)
        try h.openChannel()
        try h.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 1)
        _ = try h.readFrames()
        // A frame whose payload is frame_max bytes (RabbitMQ's limit).
        let body = ByteBuffer(repeating: 0x61, count: 4096)
        try h.write([
            .method(channel: 1, .basicPublish(BasicPublish(routingKey: "q"))),
            .header(channel: 1, ContentHeader(bodySize: 4096 + 4097)),
            .body(channel: 1, body),
        ])
        #expect(try h.readFrames().isEmpty)
        #expect(h.isActive)
        try h.write([.body(channel: 1, ByteBuffer(repeating: 0x62, count: 4097))])
        let frames = try h.readFrames()
        guard case .method(0, .connectionClose(let close)) = frames.last else {
            Issue.record("expected connection.close, got \(frames)")
            return
        }
        #expect(close.replyCode == 501)
        #expect(!h.isActive)
        #expect(h.vhost.queues["q"]?.messageCount == 0)
    }

    @Test func channelMaxLimitsHowManyChannelsAreOpenNotTheirNumbers() throws {
        let h = try ConnectionHarness()
        try h.handshake(channelMax: 2)
        try h.openChannel(1)
        try h.openChannel(5000)
        try h.send(.channelOpen(ChannelOpen()), channel: 2)
        let frames = try h.readFrames()
        guard case .method(0, .connectionClose(let close)) = frames.last else {
            Issue.record("expected connection.close, got \(frames)")
            return
        }
        #expect(close.replyCode == 530)
    }

    @Test func closedChannelFreesItsPlaceUnderChannelMax() throws {
        let h = try ConnectionHarness()
        try h.handshake(channelMax: 1)
        try h.openChannel(1)
        try h.send(.channelClose(ChannelClose()), channel: 1)
        #expect(try h.readFrames() == [.method(channel: 1, .channelCloseOk(ChannelCloseOk()))])
        try h.openChannel(2)
    }

    @Test func methodInTheMiddleOfContentIsUnexpectedFrame505() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.openChannel()
        try h.write([
            .method(channel: 1, .basicPublish(BasicPublish(routingKey: "q"))),
            .header(channel: 1, ContentHeader(bodySize: 10)),
            .method(channel: 1, .queueDeclare(QueueDeclare(queue: "q"))),
        ])
        let frames = try h.readFrames()
        guard case .method(0, .connectionClose(let close)) = frames.last else {
            Issue.record("expected connection.close, got \(frames)")
            return
        }
        #expect(close.replyCode == 505)
    }

    @Test func secondChannelOpenOnAnOpenChannelIsChannelError504() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.openChannel(1)
        try h.send(.channelOpen(ChannelOpen()), channel: 1)
        let frames = try h.readFrames()
        guard case .method(0, .connectionClose(let close)) = frames.last else {
            Issue.record("expected connection.close, got \(frames)")
            return
        }
        #expect(close.replyCode == 504)
    }

    @Test func mandatoryUnroutablePublishComesBackAsBasicReturnWithContent() throws {
        let h = try ConnectionHarness()
        try h.handshake()
        try h.openChannel()
        var b = ByteBuffer()
        b.writeContent(
            channel: 1,
            method: .basicPublish(BasicPublish(exchange: "amq.direct", routingKey: "none", mandatory: true)),
            properties: RawProperties(BasicProperties(messageID: "m")), body: ByteBuffer(string: "back"),
            frameMax: 131072)
        try h.write(b)
        let frames = try h.readFrames()
        #expect(
            frames.first
                == .method(
                    channel: 1,
                    .basicReturn(
                        BasicReturn(replyCode: 312, replyText: "NO_ROUTE", exchange: "amq.direct", routingKey: "none")))
        )
        #expect(frames.count == 3)
        if frames.count == 3, case .body(1, let body) = frames[2] {
            #expect(String(buffer: body) == "back")
        }
    }

    @Test func channelFrameBeforeConnectionOpenIsUnexpectedFrameAsInRabbitMQ() throws {
        // rabbit_reader: a frame on a channel other than 0 after tune-ok but before
        // connection.open is unexpected_frame (505), answered with connection.close.
        let h = try ConnectionHarness()
        try h.writeProtocolHeader()
        try h.send(
            .connectionStartOk(ConnectionStartOk(mechanism: "PLAIN", response: Array("\u{0}guest\u{0}guest".utf8))))
        try h.send(.connectionTuneOk(ConnectionTuneOk(channelMax: 10, frameMax: 4096, heartbeat: 0)))
        _ = try h.readFrames()
        try h.send(.channelOpen(ChannelOpen()), channel: 1)
        let frames = try h.readFrames()
        guard case .method(0, .connectionClose(let close)) = frames.last else {
            Issue.record("expected connection.close, got \(frames)")
            return
        }
        #expect(close.replyCode == 505)
    }

    @Test func deliveriesFromPublishesHandledInOneLoopTurnLeaveInOneWrite() throws {
        let consumer = try ConnectionHarness()
        try consumer.handshake()
        try consumer.openChannel()
        try consumer.send(.queueDeclare(QueueDeclare(queue: "q")), channel: 1)
        try consumer.send(.basicConsume(BasicConsume(queue: "q", consumerTag: "c", noAck: true)), channel: 1)
        _ = try consumer.readFrames()
        let publishers = try (0..<3).map { _ in try ConnectionHarness(sharing: consumer) }
        for p in publishers {
            try p.handshake()
            try p.openChannel()
        }
        // One read from each publisher before the loop runs: three batches for the vhost in one turn.
        for (i, p) in publishers.enumerated() {
            var b = ByteBuffer()
            b.writeContent(
                channel: 1, method: .basicPublish(BasicPublish(exchange: "", routingKey: "q")),
                properties: RawProperties(BasicProperties()), body: ByteBuffer(string: "m\(i)"), frameMax: 131072)
            try p.channel.writeInbound(b)
        }
        let writes = try consumer.readWrites()
        #expect(writes.count == 1)
        var bytes = writes.first ?? ByteBuffer()
        var decoder = FrameDecoder(maxFrameSize: 0)
        var bodies: [String] = []
        while let frame = try decoder.next(from: &bytes) {
            if case .body(_, let b) = frame { bodies.append(String(buffer: b)) }
        }
        #expect(bodies == ["m0", "m1", "m2"])
    }
}
