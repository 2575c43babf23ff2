import AMQPProtocol
import NIOCore
import Testing

@Suite("Frame decoding")
struct FrameDecoderTests {
    static let publish = AMQPMethod.basicPublish(BasicPublish(exchange: "ex", routingKey: "rk", mandatory: true))

    func frameBytes(_ frame: Frame) -> [UInt8] { encoded { $0.writeFrame(frame) } }

    func rawFrame(type: UInt8, channel: UInt16, payload: [UInt8], end: UInt8 = 0xCE) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(type)
        buffer.writeInteger(channel)
        buffer.writeInteger(UInt32(payload.count))
        buffer.writeBytes(payload)
        buffer.writeInteger(end)
        return buffer
    }

    @Test("partial input returns nil and consumes nothing")
    func partialInput() throws {
        let bytes = frameBytes(.method(channel: 3, Self.publish))
        var decoder = FrameDecoder(maxFrameSize: 131_072)
        for length in 0..<bytes.count {
            var buffer = ByteBuffer(bytes: bytes[0..<length])
            #expect(try decoder.next(from: &buffer) == nil)
            #expect(buffer.readerIndex == 0)
        }
        var buffer = ByteBuffer(bytes: bytes)
        #expect(try decoder.next(from: &buffer) == .method(channel: 3, Self.publish))
        #expect(buffer.readableBytes == 0)
    }

    @Test("several frames in one buffer come out one at a time, in order")
    func severalFrames() throws {
        let header = ContentHeader(bodySize: 5, properties: RawProperties(BasicProperties(deliveryMode: 2)))
        let frames: [Frame] = [
            .method(channel: 1, Self.publish),
            .header(channel: 1, header),
            .body(channel: 1, ByteBuffer(string: "hello")),
            .heartbeat,
            .method(channel: 0, .connectionCloseOk(ConnectionCloseOk())),
        ]
        var buffer = ByteBuffer()
        for frame in frames { buffer.writeFrame(frame) }
        buffer.writeBytes([1, 0])  // the start of another frame
        var decoder = FrameDecoder(maxFrameSize: 4096)
        for frame in frames {
            #expect(try decoder.next(from: &buffer) == frame)
        }
        #expect(try decoder.next(from: &buffer) == nil)
        #expect(buffer.readableBytes == 2)
    }

    @Test("body frames are slices sharing the input's storage")
    func bodyIsSlice() throws {
        var buffer = ByteBuffer()
        buffer.writeFrame(.body(channel: 7, ByteBuffer(string: "payload bytes")))
        let base = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        var decoder = FrameDecoder(maxFrameSize: 0)
        guard case .body(let channel, let body) = try decoder.next(from: &buffer) else {
            Issue.record("expected a body frame")
            return
        }
        #expect(channel == 7)
        #expect(String(buffer: body) == "payload bytes")
        #expect(body.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == base + 7)
        #expect(buffer.readerIndex == 7 + 13 + 1)
    }

    @Test("header frames keep the property bytes as received")
    func headerProperties() throws {
        let properties = BasicProperties(contentType: "text/plain", headers: ["k": .string("v")], userID: "guest")
        var buffer = ByteBuffer()
        buffer.writeContentHeaderFrame(channel: 2, bodySize: 1 << 40, properties: RawProperties(properties))
        var decoder = FrameDecoder(maxFrameSize: 4096)
        guard case .header(2, let header) = try decoder.next(from: &buffer) else {
            Issue.record("expected a header frame")
            return
        }
        #expect(header.classID == 60 && header.weight == 0 && header.bodySize == 1 << 40)
        #expect(header.properties == RawProperties(properties))
        #expect(header.properties.userIDEquals("guest"))
        #expect(try header.properties.decode() == properties)
    }

    @Test("a frame over the size limit is a frame error as soon as its header arrives, consuming nothing")
    func oversize() {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        var exact = rawFrame(type: 3, channel: 1, payload: Array(repeating: 0, count: 4088))
        #expect((try? decoder.next(from: &exact)) != nil)
        var over = rawFrame(type: 3, channel: 1, payload: Array(repeating: 0, count: 4089))
        let error = capturedError { try decoder.next(from: &over) }
        #expect(error == .frameError("type 3, channel 1: {frame_too_large,4089,4088}"))
        #expect(over.readerIndex == 0)
        var headerOnly = ByteBuffer(hex: "03" + "0001" + "00100000")  // claims 1 MiB, nothing else yet
        #expect(capturedError { try decoder.next(from: &headerOnly) }?.replyCode == ReplyCode.frameError)
        var unlimited = FrameDecoder(maxFrameSize: 0)
        var big = rawFrame(type: 3, channel: 1, payload: Array(repeating: 1, count: 200_000))
        #expect((try? unlimited.next(from: &big)) != nil)
    }

    @Test("a bad end octet is a frame error that consumes nothing: the stream is broken")
    func badEndOctet() {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        var buffer = rawFrame(type: 8, channel: 0, payload: [], end: 0xCD)
        let error = capturedError { try decoder.next(from: &buffer) }
        #expect(error?.replyCode == ReplyCode.frameError)
        #expect(error?.text.contains("0xCD") == true)
        #expect(buffer.readerIndex == 0)
    }

    @Test("an unknown frame type is a frame error that skips the whole frame")
    func unknownType() {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        var buffer = rawFrame(type: 4, channel: 0, payload: [1, 2])
        var heartbeat = ByteBuffer(bytes: [8, 0, 0, 0, 0, 0, 0, 0xCE])
        buffer.writeBuffer(&heartbeat)
        #expect(capturedError { try decoder.next(from: &buffer) } == .frameError("unknown frame type 4"))
        #expect((try? decoder.next(from: &buffer)) == .heartbeat)
        var protocolHeader = ByteBuffer(bytes: ProtocolHeader.amqp091)  // 'A' = 65: a frame of 0x5150 bytes
        #expect((try? decoder.next(from: &protocolHeader)) == nil)
    }

    @Test("a heartbeat on a channel other than 0 is an unexpected frame; one with a payload a frame error")
    func badHeartbeat() throws {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        var onChannel = rawFrame(type: 8, channel: 1, payload: [])
        #expect(capturedError { try decoder.next(from: &onChannel) }?.replyCode == ReplyCode.unexpectedFrame)
        var withPayload = rawFrame(type: 8, channel: 0, payload: [1])
        #expect(capturedError { try decoder.next(from: &withPayload) }?.replyCode == ReplyCode.frameError)
        var good = rawFrame(type: 8, channel: 0, payload: [])
        #expect(try decoder.next(from: &good) == .heartbeat)
    }

    @Test("content headers too short are frame errors; bad properties a syntax error; other classes pass")
    func badHeaders() throws {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        var wrongClass = rawFrame(
            type: 2, channel: 1, payload: [0, 50, 0, 0] + Array(repeating: 0, count: 8) + [0, 0])
        guard case .header(1, let header)? = try decoder.next(from: &wrongClass) else {
            Issue.record("expected a content header frame")
            return
        }
        #expect(header.classID == 50)
        var tooShort = rawFrame(type: 2, channel: 1, payload: [0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5])
        #expect(capturedError { try decoder.next(from: &tooShort) }?.replyCode == ReplyCode.frameError)
        // content-type flag set, but the string's length runs past the payload
        var badProperties = rawFrame(
            type: 2, channel: 1, payload: [0, 60, 0, 0] + Array(repeating: 0, count: 8) + [0x80, 0, 9, 0x61])
        let error = capturedError { try decoder.next(from: &badProperties) }
        #expect(error?.replyCode == ReplyCode.syntaxError)
        #expect(error?.classID == 60)
        // headers table with an unknown field type inside
        var badHeaders = rawFrame(
            type: 2, channel: 1,
            payload: [0, 60, 0, 0] + Array(repeating: 0, count: 8) + [0x20, 0, 0, 0, 0, 3, 1, 0x61, 0x5A])
        #expect(capturedError { try decoder.next(from: &badHeaders) }?.replyCode == ReplyCode.syntaxError)
    }

    @Test("method decoding errors surface with RabbitMQ's codes and skip the frame")
    func methodErrors() {
        var decoder = FrameDecoder(maxFrameSize: 4096)
        var unknown = rawFrame(type: 1, channel: 1, payload: [0, 60, 0, 99])
        let unknownError = capturedError { try decoder.next(from: &unknown) }
        #expect(unknownError == .notImplemented("unknown method 60/99", classID: 60, methodID: 99))
        #expect(unknown.readableBytes == 0)
        var truncated = rawFrame(type: 1, channel: 1, payload: [0, 60, 0, 40, 0, 0, 5, 0x61])
        let truncatedError = capturedError { try decoder.next(from: &truncated) }
        #expect(truncatedError?.replyCode == ReplyCode.frameError)
        #expect(truncatedError?.text.hasPrefix("cannot decode ") == true)
        #expect(truncatedError?.text.contains("basic.publish") == true)
        var trailing = rawFrame(type: 1, channel: 1, payload: [0, 60, 0, 80] + Array(repeating: 0, count: 9) + [7])
        let trailingError = capturedError { try decoder.next(from: &trailing) }
        #expect(trailingError?.replyCode == ReplyCode.frameError)
        #expect(trailingError?.classID == 60 && trailingError?.methodID == 80)
        #expect(truncatedError?.classID == 60 && truncatedError?.methodID == 40)
        var noIDs = rawFrame(type: 1, channel: 1, payload: [0, 60])
        #expect(capturedError { try decoder.next(from: &noIDs) }?.replyCode == ReplyCode.frameError)
    }

    @Test("mutated and truncated frame streams never crash: every step decodes, waits or throws")
    func mutatedStreams() {
        var rng = SeededGenerator(seed: 31337)
        var outcomes = (frames: 0, errors: 0, waits: 0)
        for _ in 0..<1500 {
            var clean = ByteBuffer()
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                clean.writeContent(
                    channel: 1, method: MethodSamples.all.randomElement(using: &rng)!,
                    properties: RawProperties(RandomValues.properties(&rng)),
                    body: ByteBuffer(bytes: RandomValues.bytes(&rng, maxLength: 300)), frameMax: 128)
            }
            var bytes = clean.readableBytesArray
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = .random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { bytes = Array(bytes[0..<Int.random(in: 0..<bytes.count, using: &rng)]) }
            var buffer = ByteBuffer(bytes: bytes)
            var decoder = FrameDecoder(maxFrameSize: [0, 128, 4096].randomElement(using: &rng)!)
            while true {
                let before = buffer.readerIndex
                let frameLength = buffer.getInteger(at: before + 3, as: UInt32.self).map { Int($0) + 8 }
                do {
                    guard try decoder.next(from: &buffer) != nil else {
                        outcomes.waits += 1
                        #expect(buffer.readerIndex == before)
                        break
                    }
                    outcomes.frames += 1
                    #expect(buffer.readerIndex > before)
                } catch {
                    outcomes.errors += 1
                    // Broken framing consumes nothing; a whole frame with bad content is skipped.
                    let consumed = buffer.readerIndex - before
                    #expect(consumed == 0 || consumed == frameLength)
                    break
                }
            }
        }
        #expect(outcomes.frames > 0 && outcomes.errors > 0 && outcomes.waits > 0)
    }
}
