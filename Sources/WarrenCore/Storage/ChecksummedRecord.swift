import AMQPProtocol
import NIOCore

/// The frame the queue store's and the streams' records share: magic u32 | payload length u32 |
/// CRC-32C of the payload u32 | payload. Each format has its own magic and payload.
enum ChecksummedRecord {
    static let headerSize = 12

    /// Appends a record whose payload `writePayload` writes; returns its total length.
    @inline(__always)
    static func write(
        magic: UInt32, into buffer: inout ByteBuffer, _ writePayload: (inout ByteBuffer) -> Void
    )
        -> Int
    {
        let start = buffer.writerIndex
        buffer.writeInteger(magic)
        buffer.writeInteger(UInt32(0))  // length, patched below
        buffer.writeInteger(UInt32(0))  // checksum, patched below
        let payloadStart = buffer.writerIndex
        writePayload(&buffer)
        let payloadLength = buffer.writerIndex - payloadStart
        let crc = buffer.withUnsafeReadableBytes { all in
            CRC32C.update(0, UnsafeRawBufferPointer(rebasing: all[(payloadStart - buffer.readerIndex)...]))
        }
        buffer.setInteger(UInt32(payloadLength), at: start + 4)
        buffer.setInteger(crc, at: start + 8)
        return headerSize + payloadLength
    }

    /// A message as both formats store it: exchange and routing key (short strings), the
    /// properties' bytes after their u32 length, then the body.
    @inline(__always)
    static func writeMessage(_ message: Message, into buffer: inout ByteBuffer) {
        buffer.writeShortString(message.exchange)
        buffer.writeShortString(message.routingKey)
        buffer.writeInteger(UInt32(message.properties.bytes.readableBytes))
        buffer.writeImmutableBuffer(message.properties.bytes)
        buffer.writeImmutableBuffer(message.body)
    }

    /// The message `writeMessage` wrote, read from `buffer`'s reader index to its end (the
    /// properties and body are slices: no copy).
    static func readMessage(_ buffer: ByteBuffer) -> Message? {
        var buffer = buffer
        guard let exchange = try? buffer.readShortString(),
            let routingKey = try? buffer.readShortString(),
            let propertiesLength = buffer.readInteger(as: UInt32.self),
            let properties = buffer.readSlice(length: Int(propertiesLength))
        else { return nil }
        return Message(
            exchange: exchange, routingKey: routingKey, properties: RawProperties(bytes: properties), body: buffer)
    }
}
