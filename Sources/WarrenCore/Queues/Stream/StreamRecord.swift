import AMQPProtocol
import NIOCore

/// One message of a stream as a segment file holds it:
///
///     magic u32 ("WSTR") | payload length u32 | CRC-32C of payload u32 |
///     payload: offset u64 | timestamp i64 (ms since the epoch) | flags u8 |
///              exchange shortstr | routing key shortstr | properties (u32 length, bytes) | body
///
/// The offset makes every record self-describing (a segment can be read from any record the
/// index points at); the timestamp is the chunk's, shared by the messages appended in one
/// batch; flag bit 0 marks the first record of a chunk.
enum StreamRecord {
    static let magic: UInt32 = 0x5753_5452
    static let headerSize = 12
    static let fixedPayload = 8 + 8 + 1
    static let chunkStart: UInt8 = 1

    struct Header {
        var offset: UInt64
        var timestamp: Int64
        var flags: UInt8
        /// Whole length of the record.
        var length: Int
    }

    /// Appends the record; returns its total length.
    static func write(
        _ message: Message, offset: UInt64, timestamp: Int64, flags: UInt8, into buffer: inout ByteBuffer
    ) -> Int {
        ChecksummedRecord.write(magic: magic, into: &buffer) { buffer in
            buffer.writeInteger(offset)
            buffer.writeInteger(timestamp)
            buffer.writeInteger(flags)
            ChecksummedRecord.writeMessage(message, into: &buffer)
        }
    }

    enum Scan {
        case valid(Header)
        /// Fewer bytes than the record needs: a torn tail, or more must be read.
        case incomplete(needed: Int)
        case corrupt
    }

    /// Checks the record at the start of `bytes` (its checksum too).
    static func scan(_ bytes: UnsafeRawBufferPointer) -> Scan {
        guard bytes.count >= headerSize else { return .incomplete(needed: headerSize) }
        guard UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == magic else {
            return .corrupt
        }
        let length = Int(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard length >= fixedPayload + 2 + 4 else { return .corrupt }
        guard bytes.count >= headerSize + length else { return .incomplete(needed: headerSize + length) }
        let crc = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
        let payload = UnsafeRawBufferPointer(rebasing: bytes[headerSize..<(headerSize + length)])
        guard CRC32C.update(0, payload) == crc else { return .corrupt }
        return .valid(
            Header(
                offset: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: headerSize, as: UInt64.self)),
                timestamp: Int64(bigEndian: bytes.loadUnaligned(fromByteOffset: headerSize + 8, as: Int64.self)),
                flags: bytes[headerSize + 16], length: headerSize + length))
    }

    /// The message of a whole, checked record (a slice of `record`: no copy of the body).
    static func message(_ record: ByteBuffer) -> Message? {
        var buffer = record
        buffer.moveReaderIndex(forwardBy: headerSize + fixedPayload)
        return ChecksummedRecord.readMessage(buffer)
    }
}
