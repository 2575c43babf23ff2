import AMQPProtocol
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import WarrenCore
@testable import WarrenServer

/// An AMQPConnectionHandler in an EmbeddedChannel, with the broker runtime on the same
/// embedded event loop: bytes are written in, tasks (the hop to the vhost and back) are run,
/// and frames are read out. Use from synchronous tests only: the embedded loop belongs to the
/// thread that made it.
final class ConnectionHarness {
    let channel: EmbeddedChannel
    let runtime: BrokerRuntime
    private var outbound = ByteBuffer()
    private var decoder = FrameDecoder(maxFrameSize: 0)

    init(
        loopbackGuest: Bool = false, frameMax: UInt32 = 131072, maxMessageSize: UInt64 = 134_217_728,
        remote: SocketAddress? = try? SocketAddress(ipAddress: "127.0.0.1", port: 40000)
    ) throws {
        channel = EmbeddedChannel()
        var logger = Logger(label: "warren.test")
        logger.logLevel = .critical
        let users = try UserDirectory(
            dataDirectory: nil, seed: .seeded(), loopbackUsers: loopbackGuest ? ["guest"] : [])
        runtime = try BrokerRuntime(
            group: channel.embeddedEventLoop, dataDirectory: nil, users: users, frameMax: frameMax,
            maxMessageSize: maxMessageSize, logger: logger)
        runtime.vhost(named: "/")!.vhost.logger.logLevel = .critical
        try channel.pipeline.syncOperations.addHandler(AMQPConnectionHandler(runtime: runtime))
        if let remote {
            try channel.connect(to: remote).wait()
        } else {
            channel.pipeline.fireChannelActive()
        }
    }

    /// Another connection to `other`'s broker, on the same embedded loop.
    init(sharing other: ConnectionHarness) throws {
        channel = EmbeddedChannel(loop: other.channel.embeddedEventLoop)
        runtime = other.runtime
        try channel.pipeline.syncOperations.addHandler(AMQPConnectionHandler(runtime: runtime))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 40001)).wait()
    }

    var vhost: VirtualHost { runtime.vhost(named: "/")!.vhost }

    /// Writes raw bytes as one socket read without running the loop: what several such reads
    /// hand to the vhost is handled in the same turn of the loop.
    func writeWithoutRunning(_ frames: [Frame]) throws {
        var b = ByteBuffer()
        for f in frames { b.writeFrame(f) }
        try channel.writeInbound(b)
    }

    /// The buffers written out since the last call, one per write.
    func readWrites() throws -> [ByteBuffer] {
        channel.embeddedEventLoop.run()
        var writes: [ByteBuffer] = []
        while let b = try channel.readOutbound(as: ByteBuffer.self) { writes.append(b) }
        return writes
    }

    /// Writes raw bytes as one socket read and runs the loop (vhost hops and replies).
    func write(_ bytes: ByteBuffer) throws {
        try channel.writeInbound(bytes)
        channel.embeddedEventLoop.run()
    }

    func writeProtocolHeader() throws {
        var b = ByteBuffer()
        b.writeProtocolHeader()
        try write(b)
    }

    /// Writes frames as one socket read.
    func write(_ frames: [Frame]) throws {
        var b = ByteBuffer()
        for f in frames { b.writeFrame(f) }
        try write(b)
    }

    func send(_ method: AMQPMethod, channel number: UInt16 = 0) throws {
        try write([.method(channel: number, method)])
    }

    /// basic.publish with its header and body frames, in one read.
    func publish(
        _ body: String, exchange: String = "", routingKey: String, channel number: UInt16 = 1,
        properties: BasicProperties = BasicProperties(), frameMax: Int = 131072
    ) throws {
        var b = ByteBuffer()
        b.writeContent(
            channel: number, method: .basicPublish(BasicPublish(exchange: exchange, routingKey: routingKey)),
            properties: RawProperties(properties), body: ByteBuffer(string: body), frameMax: UInt32(frameMax))
        try write(b)
    }

    /// All bytes written out so far, raw.
    func readBytes() throws -> ByteBuffer {
        channel.embeddedEventLoop.run()
        while let b = try channel.readOutbound(as: ByteBuffer.self) {
            var b = b
            outbound.writeBuffer(&b)
        }
        let out = outbound
        outbound.clear()
        return out
    }

    /// The frames written out since the last call.
    func readFrames() throws -> [Frame] {
        channel.embeddedEventLoop.run()
        while let b = try channel.readOutbound(as: ByteBuffer.self) {
            var b = b
            outbound.writeBuffer(&b)
        }
        var frames: [Frame] = []
        while let f = try decoder.next(from: &outbound) { frames.append(f) }
        outbound.discardReadBytes()
        return frames
    }

    /// The methods among the frames written out since the last call.
    func readMethods() throws -> [AMQPMethod] {
        try readFrames().compactMap {
            if case .method(_, let m) = $0 { return m }
            return nil
        }
    }

    /// Header, start-ok (PLAIN guest/guest), tune-ok and open; returns the frames received.
    @discardableResult
    func handshake(channelMax: UInt16 = 2047, frameMax: UInt32 = 131072, heartbeat: UInt16 = 0) throws -> [Frame] {
        try writeProtocolHeader()
        try send(
            .connectionStartOk(
                ConnectionStartOk(
                    clientProperties: ["capabilities": .table(["consumer_cancel_notify": .boolean(true)])],
                    mechanism: "PLAIN", response: Array("\u{0}guest\u{0}guest".utf8), locale: "en_US")))
        try send(.connectionTuneOk(ConnectionTuneOk(channelMax: channelMax, frameMax: frameMax, heartbeat: heartbeat)))
        try send(.connectionOpen(ConnectionOpen(virtualHost: "/")))
        return try readFrames()
    }

    /// Handshake, then channel.open on `number`.
    func openChannel(_ number: UInt16 = 1) throws {
        try send(.channelOpen(ChannelOpen()), channel: number)
        let frames = try readFrames()
        #expect(frames == [.method(channel: number, .channelOpenOk(ChannelOpenOk()))])
    }

    var isActive: Bool { channel.isActive }
}

extension Frame {
    var methodName: String? {
        if case .method(_, let m) = self { return m.name }
        return nil
    }
}
