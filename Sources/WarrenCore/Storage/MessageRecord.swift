import AMQPProtocol
import NIOCore

/// The on-disk form of a message in a segment file:
///
///     magic u32 ("WMSG") | payload length u32 | CRC-32C of payload u32 |
///     payload: exchange shortstr | routing key shortstr | properties (u32 length, bytes) | body
///
/// The magic lets recovery find the next record after a corrupt one; the checksum detects torn
/// and damaged records.
enum MessageRecord {
    static let magic: UInt32 = 0x574D_5347
    static let headerSize = 12

    /// Appends the record of `message`; returns its total length.
    static func write(_ message: Message, into buffer: inout ByteBuffer) -> UInt32 {
        UInt32(
            ChecksummedRecord.write(magic: magic, into: &buffer) { ChecksummedRecord.writeMessage(message, into: &$0) })
    }

    enum ScanResult {
        /// A whole, valid record of this total length.
        case valid(length: Int)
        /// Not enough bytes for the record its header announces (a torn tail, or the end).
        case incomplete
        /// Bytes that are not a valid record.
        case corrupt
    }

    /// Checks the record starting at `offset` in `bytes` (a whole segment file).
    static func scan(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> ScanResult {
        guard bytes.count - offset >= headerSize else { return .incomplete }
        let m = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        guard m == magic else { return .corrupt }
        let length = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
        let crc = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self))
        guard bytes.count - offset - headerSize >= length else { return .incomplete }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[(offset + headerSize)..<(offset + headerSize + length)])
        guard CRC32C.update(0, payload) == crc, length >= 2 + 4 else { return .corrupt }
        return .valid(length: headerSize + length)
    }

    /// The body size of the valid record of total `length` at `offset`.
    static func bodySize(_ bytes: UnsafeRawBufferPointer, at offset: Int, length: Int) -> UInt32 {
        var i = offset + headerSize
        i += 1 + Int(bytes[i])  // exchange
        i += 1 + Int(bytes[i])  // routing key
        let properties = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
        i += 4 + properties
        return UInt32(max(0, offset + length - i))
    }

    /// The priority property of the valid record at `offset` (0 when absent).
    static func priority(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> UInt8 {
        var i = offset + headerSize
        i += 1 + Int(bytes[i])  // exchange
        i += 1 + Int(bytes[i])  // routing key
        let length = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
        let properties = RawProperties(
            bytes: ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: bytes[(i + 4)..<(i + 4 + length)])))
        return properties.priority ?? 0
    }

    /// Decodes a whole record (as read back for delivery) into a message.
    static func decode(_ record: ByteBuffer) -> Message? {
        var buffer = record
        guard buffer.readInteger(as: UInt32.self) == magic,
            let length = buffer.readInteger(as: UInt32.self),
            let crc = buffer.readInteger(as: UInt32.self),
            buffer.readableBytes == Int(length)
        else { return nil }
        guard buffer.withUnsafeReadableBytes({ CRC32C.update(0, $0) }) == crc else { return nil }
        return ChecksummedRecord.readMessage(buffer)
    }
}
