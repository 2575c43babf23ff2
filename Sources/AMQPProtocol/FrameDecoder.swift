import NIOCore

/// Splits a byte stream into frames.
///
/// `next(from:)` returns nil, consuming nothing, while the buffer holds less than a whole frame;
/// otherwise it consumes exactly one frame and returns it. The size limit is checked as soon as
/// the 7-byte frame header has arrived, so an oversized frame fails before it is buffered.
///
/// Errors follow RabbitMQ. When the framing itself is broken (a size over `maxFrameSize`, an
/// end octet other than 0xCE) nothing is consumed: the stream cannot be trusted and the
/// connection must close. When the frame is whole but its content is wrong, the frame is
/// consumed before the error is thrown, so the connection can keep reading while it waits for
/// close-ok: frame error (501) for an unknown frame type, a method frame shorter than its ids
/// or arguments that cannot be decoded (including bytes left over after them), and a content
/// header too short for its fixed fields; unexpected frame (505) for a heartbeat on a channel
/// other than 0; syntax error (502) for malformed content properties; not implemented (540)
/// for unknown methods.
public struct FrameDecoder: Sendable {
    /// The largest frame accepted, counting the 7-byte header and the end octet; 0 means no
    /// limit.
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

        let total = UInt64(size) + UInt64(FrameType.overhead)
        if maxFrameSize != 0 && total > UInt64(maxFrameSize) {
            throw AMQPProtocolError.frameError(
                "type \(type), channel \(channel): {frame_too_large,\(size),"
                    + "\(UInt64(maxFrameSize) - UInt64(FrameType.overhead))}")
        }
        guard buffer.readableBytes >= Int(total) else { return nil }

        let payloadLength = Int(size)
        let endOctet = buffer.getInteger(at: start + 7 + payloadLength, as: UInt8.self)!
        guard endOctet == FrameType.frameEnd else {
            throw AMQPProtocolError.frameError(
                "frame end octet is 0x\(String(endOctet, radix: 16, uppercase: true)), not 0xCE")
        }
        let payload = buffer.getSlice(at: start + 7, length: payloadLength)!
        // The frame is whole: from here on it is consumed even when its content is refused.
        buffer.moveReaderIndex(forwardBy: Int(total))

        switch type {
        case FrameType.method:
            return .method(channel: channel, try Self.decodeMethod(payload))
        case FrameType.header:
            return .header(channel: channel, try ContentHeader.decode(payload: payload))
        case FrameType.body:
            return .body(channel: channel, payload)
        case FrameType.heartbeat:
            guard channel == 0 else {
                throw AMQPProtocolError(
                    replyCode: ReplyCode.unexpectedFrame,
                    text: "heartbeat frame on channel \(channel); heartbeats use channel 0")
            }
            guard size == 0 else {
                throw AMQPProtocolError.frameError("heartbeat frame with a \(size)-byte payload")
            }
            return .heartbeat
        default:
            throw AMQPProtocolError.frameError("unknown frame type \(type)")
        }
    }

    /// Decodes a method frame payload; arguments that do not decode exactly are a frame error
    /// naming the method, as RabbitMQ reports them.
    private static func decodeMethod(_ payload: ByteBuffer) throws(AMQPProtocolError) -> AMQPMethod {
        guard payload.readableBytes >= 4 else {
            throw AMQPProtocolError.frameError("method frame too short (\(payload.readableBytes) bytes)")
        }
        let classID = payload.getInteger(at: payload.readerIndex, as: UInt16.self)!
        let methodID = payload.getInteger(at: payload.readerIndex + 2, as: UInt16.self)!
        var arguments = payload.getSlice(at: payload.readerIndex + 4, length: payload.readableBytes - 4)!
        let method: AMQPMethod
        do throws(AMQPProtocolError) {
            method = try AMQPMethod.decode(classID: classID, methodID: methodID, arguments: &arguments)
        } catch  where error.replyCode == ReplyCode.syntaxError {
            throw AMQPProtocolError(
                replyCode: ReplyCode.frameError, text: "cannot decode \(error.text)", classID: classID,
                methodID: methodID)
        }
        guard arguments.readableBytes == 0 else {
            throw AMQPProtocolError(
                replyCode: ReplyCode.frameError,
                text: "cannot decode \(method.name): \(arguments.readableBytes) octets after its arguments",
                classID: classID, methodID: methodID)
        }
        return method
    }
}
