import NIOCore

/// Frame writing. Every writer returns the number of bytes written and allocates nothing but
/// the buffer's own growth.
extension ByteBuffer {
    /// Writes a method frame: type 1, channel, size, class and method ids, arguments, end octet.
    @discardableResult
    public mutating func writeMethodFrame(channel: UInt16, _ method: AMQPMethod) -> Int {
        let start = writeFrameHeader(type: FrameType.method, channel: channel)
        method.encode(into: &self)
        return finishFrame(startedAt: start)
    }

    /// Writes a method frame from a method struct, without wrapping it in `AMQPMethod`.
    @discardableResult
    public mutating func writeMethodFrame<Method: AMQPMethodArguments>(channel: UInt16, _ method: Method) -> Int {
        let start = writeFrameHeader(type: FrameType.method, channel: channel)
        method.encode(into: &self)
        return finishFrame(startedAt: start)
    }

    /// Writes a heartbeat frame.
    @discardableResult
    public mutating func writeHeartbeatFrame() -> Int {
        writeInteger(FrameType.heartbeat)
        writeInteger(UInt16(0))
        writeInteger(UInt32(0))
        writeInteger(FrameType.frameEnd)
        return FrameType.overhead
    }

    /// Writes a content header frame (weight 0).
    @discardableResult
    public mutating func writeContentHeaderFrame(
        channel: UInt16, classID: UInt16 = 60, bodySize: UInt64, properties: RawProperties
    ) -> Int {
        let start = writeFrameHeader(type: FrameType.header, channel: channel)
        writeInteger(classID)
        writeInteger(UInt16(0))
        writeInteger(bodySize)
        writeImmutableBuffer(properties.bytes)
        return finishFrame(startedAt: start)
    }

    /// Writes `body` as body frames of at most `frameMax - 8` payload bytes each (`frameMax` 0
    /// means no limit); an empty body writes no frame. `frameMax` must be 0 or more than 8.
    @discardableResult
    public mutating func writeBodyFrames(channel: UInt16, body: ByteBuffer, frameMax: UInt32) -> Int {
        precondition(frameMax == 0 || frameMax > UInt32(FrameType.overhead), "frame_max \(frameMax) is too small")
        let maxPayload = frameMax == 0 ? Int(UInt32.max) : Int(frameMax) - FrameType.overhead
        var remaining = body
        var written = 0
        while remaining.readableBytes > 0 {
            let chunk = remaining.readSlice(length: Swift.min(maxPayload, remaining.readableBytes))!
            writeInteger(FrameType.body)
            writeInteger(channel)
            writeInteger(UInt32(truncatingIfNeeded: chunk.readableBytes))
            writeImmutableBuffer(chunk)
            writeInteger(FrameType.frameEnd)
            written += chunk.readableBytes + FrameType.overhead
        }
        return written
    }

    /// Writes a content-carrying method (basic.deliver, basic.get-ok, basic.return,
    /// basic.publish), its content header (class 60, body size from `body`) and body frames.
    @discardableResult
    public mutating func writeContent(
        channel: UInt16, method: AMQPMethod, properties: RawProperties, body: ByteBuffer, frameMax: UInt32
    ) -> Int {
        reserveContentCapacity(properties: properties, body: body, frameMax: frameMax)
        var written = writeMethodFrame(channel: channel, method)
        written += writeContentHeaderFrame(
            channel: channel, classID: method.classID, bodySize: UInt64(body.readableBytes), properties: properties)
        written += writeBodyFrames(channel: channel, body: body, frameMax: frameMax)
        return written
    }

    /// `writeContent` for a method struct such as `BasicDeliver`, without wrapping it in `AMQPMethod`.
    @discardableResult
    public mutating func writeContent<Method: AMQPMethodArguments>(
        channel: UInt16, method: Method, properties: RawProperties, body: ByteBuffer, frameMax: UInt32
    ) -> Int {
        reserveContentCapacity(properties: properties, body: body, frameMax: frameMax)
        var written = writeMethodFrame(channel: channel, method)
        written += writeContentHeaderFrame(
            channel: channel, classID: Method.classID, bodySize: UInt64(body.readableBytes), properties: properties)
        written += writeBodyFrames(channel: channel, body: body, frameMax: frameMax)
        return written
    }

    /// Grows the buffer once for a whole message (the method's size is estimated).
    private mutating func reserveContentCapacity(properties: RawProperties, body: ByteBuffer, frameMax: UInt32) {
        let maxPayload = frameMax > UInt32(FrameType.overhead) ? Int(frameMax) - FrameType.overhead : Int(UInt32.max)
        let bodyFrames = (body.readableBytes + maxPayload - 1) / maxPayload
        let estimatedMethodFrame = 128
        let headerFrame = FrameType.overhead + ContentHeader.fixedSize + properties.bytes.readableBytes
        reserveCapacity(
            minimumWritableBytes: estimatedMethodFrame + headerFrame + body.readableBytes + bodyFrames
                * FrameType.overhead)
    }

    /// Writes any frame; a body frame is written whole, whatever its size.
    @discardableResult
    public mutating func writeFrame(_ frame: Frame) -> Int {
        switch frame {
        case .method(let channel, let method):
            return writeMethodFrame(channel: channel, method)
        case .header(let channel, let header):
            let start = writeFrameHeader(type: FrameType.header, channel: channel)
            writeInteger(header.classID)
            writeInteger(header.weight)
            writeInteger(header.bodySize)
            writeImmutableBuffer(header.properties.bytes)
            return finishFrame(startedAt: start)
        case .body(let channel, let payload):
            let start = writeFrameHeader(type: FrameType.body, channel: channel)
            writeImmutableBuffer(payload)
            return finishFrame(startedAt: start)
        case .heartbeat:
            return writeHeartbeatFrame()
        }
    }

    /// Writes type, channel and a size placeholder; returns the frame's start index.
    private mutating func writeFrameHeader(type: UInt8, channel: UInt16) -> Int {
        let start = writerIndex
        writeInteger(type)
        writeInteger(channel)
        writeInteger(UInt32(0))  // payload size, set by finishFrame
        return start
    }

    /// Sets the payload size of the frame started at `start` and writes the end octet.
    private mutating func finishFrame(startedAt start: Int) -> Int {
        setInteger(UInt32(truncatingIfNeeded: writerIndex - start - 7), at: start + 3)
        writeInteger(FrameType.frameEnd)
        return writerIndex - start
    }
}
