import AMQPProtocol
import NIOCore
import Testing

@Suite("Frame encoding")
struct FrameEncoderTests {
    /// Decodes every frame in `buffer` (which must hold whole frames only).
    func decodeAll(_ buffer: ByteBuffer, maxFrameSize: UInt32) throws -> [Frame] {
        var buffer = buffer
        var decoder = FrameDecoder(maxFrameSize: maxFrameSize)
        var frames: [Frame] = []
        while let frame = try decoder.next(from: &buffer) { frames.append(frame) }
        #expect(buffer.readableBytes == 0)
        return frames
    }

    func bodySizes(_ frames: [Frame]) -> [Int] {
        frames.compactMap { if case .body(_, let b) = $0 { b.readableBytes } else { nil } }
    }

    func body(count: Int) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) })
    }

    @Test("a body that is an exact multiple of frame_max - 8 fills whole frames")
    func exactMultiple() throws {
        var buffer = ByteBuffer()
        let written = buffer.writeBodyFrames(channel: 1, body: body(count: 2 * 4088), frameMax: 4096)
        #expect(written == 2 * 4096)
        let frames = try decodeAll(buffer, maxFrameSize: 4096)
        #expect(bodySizes(frames) == [4088, 4088])
    }

    @Test("one byte over a multiple adds a one-byte frame")
    func oneByteOver() throws {
        var buffer = ByteBuffer()
        let original = body(count: 2 * 4088 + 1)
        buffer.writeBodyFrames(channel: 1, body: original, frameMax: 4096)
        let frames = try decodeAll(buffer, maxFrameSize: 4096)
        #expect(bodySizes(frames) == [4088, 4088, 1])
        var joined = ByteBuffer()
        for case .body(1, var part) in frames { joined.writeBuffer(&part) }
        #expect(joined == original)
    }

    @Test("an empty body writes no body frame")
    func emptyBody() {
        var buffer = ByteBuffer()
        #expect(buffer.writeBodyFrames(channel: 1, body: ByteBuffer(), frameMax: 4096) == 0)
        #expect(buffer.readableBytes == 0)
    }

    @Test("frame_max 0 writes the body as one frame")
    func unlimitedFrameMax() throws {
        var buffer = ByteBuffer()
        buffer.writeBodyFrames(channel: 1, body: body(count: 100_000), frameMax: 0)
        #expect(bodySizes(try decodeAll(buffer, maxFrameSize: 0)) == [100_000])
    }

    @Test("writeBodyFrames writes only the body's readable bytes")
    func readableBytesOnly() throws {
        var source = body(count: 50)
        source.moveReaderIndex(forwardBy: 10)
        var buffer = ByteBuffer()
        buffer.writeBodyFrames(channel: 1, body: source, frameMax: 28)
        let frames = try decodeAll(buffer, maxFrameSize: 28)
        #expect(bodySizes(frames) == [20, 20])
    }

    @Test("writeContent writes method, content header and body frames")
    func content() throws {
        let deliver = BasicDeliver(consumerTag: "c", deliveryTag: 9, exchange: "e", routingKey: "r")
        let properties = RawProperties(BasicProperties(contentType: "text/plain", deliveryMode: 2))
        let payload = body(count: 10_000)
        var buffer = ByteBuffer()
        buffer.writeContent(
            channel: 5, method: .basicDeliver(deliver), properties: properties, body: payload, frameMax: 4096)
        var generic = ByteBuffer()
        generic.writeContent(channel: 5, method: deliver, properties: properties, body: payload, frameMax: 4096)
        #expect(generic == buffer)
        let frames = try decodeAll(buffer, maxFrameSize: 4096)
        #expect(frames.count == 5)
        #expect(frames[0] == .method(channel: 5, .basicDeliver(deliver)))
        #expect(frames[1] == .header(channel: 5, ContentHeader(bodySize: 10_000, properties: properties)))
        #expect(bodySizes(frames) == [4088, 4088, 1824])
    }

    @Test("writeContent with an empty body writes only method and header")
    func emptyContent() throws {
        var buffer = ByteBuffer()
        buffer.writeContent(
            channel: 1, method: .basicPublish(BasicPublish()), properties: .empty, body: ByteBuffer(), frameMax: 4096)
        let frames = try decodeAll(buffer, maxFrameSize: 4096)
        #expect(frames.count == 2)
        #expect(frames[1] == .header(channel: 1, ContentHeader(bodySize: 0)))
    }

    @Test("heartbeat and method frames match hand-computed bytes")
    func handComputed() {
        #expect(encoded { $0.writeHeartbeatFrame() }.hex == "08" + "0000" + "00000000" + "ce")
        #expect(
            encoded { $0.writeMethodFrame(channel: 1, .channelOpen(ChannelOpen())) }.hex
                == "01" + "0001" + "00000005" + "0014000a00" + "ce")
        #expect(
            encoded { $0.writeMethodFrame(channel: 2, BasicAck(deliveryTag: 1, multiple: true)) }.hex
                == "01" + "0002" + "0000000d" + "003c0050" + "0000000000000001" + "01" + "ce")
        let header = encoded {
            $0.writeContentHeaderFrame(channel: 1, bodySize: 3, properties: .empty)
        }
        #expect(header.hex == "02" + "0001" + "0000000e" + "003c" + "0000" + "0000000000000003" + "0000" + "ce")
    }

    @Test("writers return the number of bytes they wrote")
    func byteCounts() {
        var buffer = ByteBuffer()
        let count = buffer.writeMethodFrame(channel: 1, .basicPublish(BasicPublish(exchange: "x", routingKey: "y")))
        #expect(count == buffer.readableBytes)
        buffer.clear()
        let all = buffer.writeContent(
            channel: 1, method: .basicPublish(BasicPublish()), properties: .empty, body: body(count: 5000),
            frameMax: 4096)
        #expect(all == buffer.readableBytes)
    }
}
