import NIOCore

/// basic.deliver, its content header and its body frames written in one pass through one raw
/// pointer: the broker writes one of these per message delivered, and writing them field by
/// field through ByteBuffer's integer and string writers cost several times more (each goes
/// through NIO's bounds, capacity and exclusivity checks).
extension ByteBuffer {
    /// Writes basic.deliver (class 60, method 60), the content header (class 60, weight 0,
    /// `properties`) and, if `includeBody`, the body frames of `body` (at most `frameMax - 8`
    /// payload bytes each; `frameMax` 0 means no limit). The bytes are the same as
    /// `writeContent(channel:method:properties:body:frameMax:)` with a `BasicDeliver`.
    ///
    /// Returns the bytes written, or nil (writing nothing) when a name is longer than a short
    /// string holds, for the general path, which shortens it.
    @discardableResult
    public mutating func writeDelivery(
        channel: UInt16, consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String,
        routingKey: String, properties: RawProperties, body: ByteBuffer, frameMax: UInt32, includeBody: Bool = true
    ) -> Int? {
        var consumerTag = consumerTag
        var exchange = exchange
        var routingKey = routingKey
        return consumerTag.withUTF8 { tag in
            exchange.withUTF8 { exchange in
                routingKey.withUTF8 { routingKey in
                    writeDelivery(
                        channel: channel, tag: tag, deliveryTag: deliveryTag, redelivered: redelivered,
                        exchange: exchange, routingKey: routingKey, properties: properties, body: body,
                        frameMax: frameMax, includeBody: includeBody)
                }
            }
        }
    }

    private mutating func writeDelivery(
        channel: UInt16, tag: UnsafeBufferPointer<UInt8>, deliveryTag: UInt64, redelivered: Bool,
        exchange: UnsafeBufferPointer<UInt8>, routingKey: UnsafeBufferPointer<UInt8>, properties: RawProperties,
        body: ByteBuffer, frameMax: UInt32, includeBody: Bool
    ) -> Int? {
        let limit = Self.maxShortStringLength
        guard tag.count <= limit, exchange.count <= limit, routingKey.count <= limit else { return nil }
        let overhead = FrameType.overhead
        // class, method, tag, delivery tag, redelivered, exchange, routing key
        let methodPayload = 4 + 1 + tag.count + 8 + 1 + 1 + exchange.count + 1 + routingKey.count
        let propertyBytes = properties.bytes.readableBytes
        let headerPayload = ContentHeader.fixedSize + propertyBytes
        let bodyBytes = includeBody ? body.readableBytes : 0
        let maxPayload = frameMax > UInt32(overhead) ? Int(frameMax) - overhead : Int(UInt32.max)
        let bodyFrames = (bodyBytes + maxPayload - 1) / maxPayload
        let total = methodPayload + headerPayload + 2 * overhead + bodyBytes + bodyFrames * overhead
        return writeWithUnsafeMutableBytes(minimumWritableBytes: total) { raw in
            var out = RawFrameWriter(base: raw.baseAddress!)
            out.frameHeader(type: FrameType.method, channel: channel, size: methodPayload)
            out.integer(UInt16(60))
            out.integer(UInt16(60))
            out.shortString(tag)
            out.integer(deliveryTag)
            out.integer(UInt8(redelivered ? 1 : 0))
            out.shortString(exchange)
            out.shortString(routingKey)
            out.integer(FrameType.frameEnd)

            out.frameHeader(type: FrameType.header, channel: channel, size: headerPayload)
            out.integer(UInt16(60))
            out.integer(UInt16(0))
            out.integer(UInt64(body.readableBytes))
            properties.bytes.withUnsafeReadableBytes { out.bytes($0) }
            out.integer(FrameType.frameEnd)

            if bodyBytes > 0 {
                body.withUnsafeReadableBytes { payload in
                    var start = 0
                    while start < payload.count {
                        let end = Swift.min(start + maxPayload, payload.count)
                        out.frameHeader(type: FrameType.body, channel: channel, size: end - start)
                        out.bytes(UnsafeRawBufferPointer(rebasing: payload[start..<end]))
                        out.integer(FrameType.frameEnd)
                        start = end
                    }
                }
            }
            return out.offset
        }
    }
}

/// Big-endian stores through a raw pointer into memory already reserved for them.
private struct RawFrameWriter {
    let base: UnsafeMutableRawPointer
    var offset = 0

    mutating func integer<I: FixedWidthInteger>(_ value: I) {
        base.storeBytes(of: value.bigEndian, toByteOffset: offset, as: I.self)
        offset += MemoryLayout<I>.size
    }

    mutating func frameHeader(type: UInt8, channel: UInt16, size: Int) {
        integer(type)
        integer(channel)
        integer(UInt32(truncatingIfNeeded: size))
    }

    mutating func bytes(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        (base + offset).copyMemory(from: source, byteCount: bytes.count)
        offset += bytes.count
    }

    mutating func shortString(_ utf8: UnsafeBufferPointer<UInt8>) {
        integer(UInt8(truncatingIfNeeded: utf8.count))
        bytes(UnsafeRawBufferPointer(utf8))
    }
}
