import NIOCore

/// Splits a byte stream into frames.
///
/// `next(from:)` returns nil, consuming nothing, while the buffer holds less than a whole frame;
/// otherwise it consumes exactly one frame and returns it. Checks that need only the 7-byte
/// frame header (type, heartbeat channel, size against `maxFrameSize`) are made as soon as it
/// has arrived, so an oversized frame fails before it is buffered. On error nothing is consumed;
/// the connection is expected to close.
///
/// Errors: frame error (501) for a size over `maxFrameSize`, an end octet other than 0xCE, an
/// unknown frame type, a heartbeat on a channel other than 0 or with a payload, a method frame
/// shorter than its class and method ids, and a content header that is too short or not of
/// class 60; syntax error (502) for malformed method arguments or content properties; not
/// implemented (540) for unknown methods.
public struct FrameDecoder: Sendable {
    /// The largest frame accepted, counting the 7-byte header and the end octet, as the
    /// negotiated frame_max does; 0 means no limit.
    public var maxFrameSize: UInt32

    public init(maxFrameSize: UInt32) {
        self.maxFrameSize = maxFrameSize
    }

    public mutating func next(from buffer: inout ByteBuffer) throws(AMQPProtocolError) -> Frame? {
        let start = buffer.readerIndex
        guard let type = buffer.getInteger(at: start, as: UInt8.self),
            let channel = buffer.getInteger(at: start + 1, as: UInt16.self),
            let size = buffer.getInteger(at: start + 3, as: UInt32.self)
        else { return nil }

        switch type {
        case FrameType.method, FrameType.header, FrameType.body:
            break
        case FrameType.heartbeat:
            guard channel == 0 else {
                throw AMQPProtocolError.frameError("heartbeat frame on channel \(channel); heartbeats use channel 0")
            }
            guard size == 0 else {
                throw AMQPProtocolError.frameError("heartbeat frame with a \(size)-byte payload")
            }
        default:
            throw AMQPProtocolError.frameError("unknown frame type \(type)")
        }
        let total = UInt64(size) + UInt64(FrameType.overhead)
        if maxFrameSize != 0 && total > UInt64(maxFrameSize) {
            throw AMQPProtocolError.frameError("frame size \(total) exceeds frame_max \(maxFrameSize)")
        }
        guard buffer.readableBytes >= Int(total) else { return nil }

        let payloadLength = Int(size)
        let endOctet = buffer.getInteger(at: start + 7 + payloadLength, as: UInt8.self)!
        guard endOctet == FrameType.frameEnd else {
            throw AMQPProtocolError.frameError(
                "frame end octet is 0x\(String(endOctet, radix: 16, uppercase: true)), not 0xCE")
        }
        let payload = buffer.getSlice(at: start + 7, length: payloadLength)!

        let frame: Frame
        switch type {
        case FrameType.method:
            guard payloadLength >= 4 else {
                throw AMQPProtocolError.frameError("method frame too short (\(payloadLength) bytes)")
            }
            let classID = payload.getInteger(at: payload.readerIndex, as: UInt16.self)!
            let methodID = payload.getInteger(at: payload.readerIndex + 2, as: UInt16.self)!
            var arguments = payload.getSlice(at: payload.readerIndex + 4, length: payloadLength - 4)!
            frame = .method(
                channel: channel, try AMQPMethod.decode(classID: classID, methodID: methodID, arguments: &arguments))
        case FrameType.header:
            frame = .header(channel: channel, try ContentHeader.decode(payload: payload))
        case FrameType.body:
            frame = .body(channel: channel, payload)
        default:
            frame = .heartbeat
        }
        buffer.moveReaderIndex(forwardBy: Int(total))
        return frame
    }
}
