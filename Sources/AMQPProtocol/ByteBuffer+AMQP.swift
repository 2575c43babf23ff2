import NIOCore

/// AMQP 0-9-1 wire primitives on `ByteBuffer`.
///
/// Readers throw `AMQPProtocolError.syntaxError` (502, no class or method id) on truncated or
/// malformed input and leave the reader index where it was; `AMQPMethod.decode` and
/// `BasicProperties.decode` re-throw such errors naming the method or content header.
///
/// Short strings: `readShortString()` decodes the bytes as UTF-8, replacing invalid sequences
/// (AMQP does not require short strings to be UTF-8 and brokers accept any bytes, so this is
/// lenient rather than an error). `writeShortString(_:)` never fails: a string longer than 255
/// UTF-8 bytes is cut at the last Unicode scalar boundary within 255 bytes, so the result is
/// still valid UTF-8. This suits text the broker composes (reply texts quoting user-supplied
/// names); names that must not be altered should be checked with `String.fitsAMQPShortString`
/// where they are accepted (names decoded from short strings always fit).
extension ByteBuffer {
    /// The most bytes a short string holds.
    public static let maxShortStringLength = 255

    /// Field tables and arrays nested deeper than this are rejected when read, so that hostile
    /// input cannot exhaust the stack.
    public static let maxFieldNestingDepth = 128

    // MARK: Integers

    @inline(__always)
    mutating func readAMQPInteger<T: FixedWidthInteger>(
        as: T.Type = T.self, _ what: @autoclosure () -> String
    ) throws(AMQPProtocolError) -> T {
        guard let value = readInteger(as: T.self) else {
            throw AMQPProtocolError.syntaxError("truncated \(what())")
        }
        return value
    }

    @inline(__always)
    mutating func skipAMQPBytes(_ count: Int, _ what: @autoclosure () -> String) throws(AMQPProtocolError) {
        guard readableBytes >= count else { throw AMQPProtocolError.syntaxError("truncated \(what())") }
        moveReaderIndex(forwardBy: count)
    }

    // MARK: Short strings

    /// Reads a short string: a one-octet length and that many bytes, decoded as UTF-8.
    public mutating func readShortString() throws(AMQPProtocolError) -> String {
        guard let length = getInteger(at: readerIndex, as: UInt8.self),
            let string = getString(at: readerIndex + 1, length: Int(length))
        else { throw AMQPProtocolError.syntaxError("truncated short string") }
        moveReaderIndex(forwardBy: 1 + Int(length))
        return string
    }

    /// Skips a short string without decoding it.
    public mutating func skipShortString() throws(AMQPProtocolError) {
        guard let length = getInteger(at: readerIndex, as: UInt8.self), readableBytes >= 1 + Int(length) else {
            throw AMQPProtocolError.syntaxError("truncated short string")
        }
        moveReaderIndex(forwardBy: 1 + Int(length))
    }

    /// Writes a short string, truncating it to 255 UTF-8 bytes at a scalar boundary if longer.
    /// Returns the number of bytes written (length octet included).
    @discardableResult
    public mutating func writeShortString(_ string: String) -> Int {
        let utf8 = string.utf8
        let count = utf8.count
        if count <= Self.maxShortStringLength {
            writeInteger(UInt8(truncatingIfNeeded: count))
            return 1 + writeString(string)
        }
        var end = utf8.index(utf8.startIndex, offsetBy: Self.maxShortStringLength)
        while end > utf8.startIndex && utf8[end] & 0xC0 == 0x80 {  // continuation byte: back up
            end = utf8.index(before: end)
        }
        let prefix = utf8[utf8.startIndex..<end]
        writeInteger(UInt8(truncatingIfNeeded: prefix.count))
        return 1 + writeBytes(prefix)
    }

    // MARK: Long strings

    /// Reads a long string (four-octet length and that many bytes) as raw bytes.
    public mutating func readLongString() throws(AMQPProtocolError) -> [UInt8] {
        guard let length = getInteger(at: readerIndex, as: UInt32.self),
            let bytes = getBytes(at: readerIndex + 4, length: Int(length))
        else { throw AMQPProtocolError.syntaxError("truncated long string") }
        moveReaderIndex(forwardBy: 4 + Int(length))
        return bytes
    }

    /// Skips a long string without copying it.
    public mutating func skipLongString() throws(AMQPProtocolError) {
        guard let length = getInteger(at: readerIndex, as: UInt32.self), readableBytes - 4 >= Int(length) else {
            throw AMQPProtocolError.syntaxError("truncated long string")
        }
        moveReaderIndex(forwardBy: 4 + Int(length))
    }

    /// Writes a long string from raw bytes. Returns the number of bytes written.
    @discardableResult
    public mutating func writeLongString(_ bytes: [UInt8]) -> Int {
        writeInteger(UInt32(truncatingIfNeeded: bytes.count))
        return 4 + writeBytes(bytes)
    }

    /// Writes a long string holding the UTF-8 bytes of `string`. Returns the number of bytes written.
    @discardableResult
    public mutating func writeLongString(_ string: String) -> Int {
        writeInteger(UInt32(truncatingIfNeeded: string.utf8.count))
        return 4 + writeString(string)
    }

    // MARK: Field tables

    /// Reads a field table: a four-octet byte length, then (short string key, field value) pairs.
    public mutating func readFieldTable() throws(AMQPProtocolError) -> FieldTable {
        try readFieldTable(depth: 0)
    }

    /// Skips a field table by its length prefix, without looking at its entries.
    public mutating func skipFieldTable() throws(AMQPProtocolError) {
        guard let length = getInteger(at: readerIndex, as: UInt32.self), readableBytes - 4 >= Int(length) else {
            throw AMQPProtocolError.syntaxError("truncated field table")
        }
        moveReaderIndex(forwardBy: 4 + Int(length))
    }

    /// Writes a field table. Returns the number of bytes written.
    @discardableResult
    public mutating func writeFieldTable(_ table: FieldTable) -> Int {
        let start = writerIndex
        writeInteger(UInt32(0))  // length, patched below
        for entry in table.entries {
            writeShortString(entry.key)
            writeFieldValue(entry.value)
        }
        setInteger(UInt32(truncatingIfNeeded: writerIndex - start - 4), at: start)
        return writerIndex - start
    }

    // MARK: Field arrays

    /// Reads a field array: a four-octet byte length, then field values.
    public mutating func readFieldArray() throws(AMQPProtocolError) -> [FieldValue] {
        try readFieldArray(depth: 0)
    }

    /// Writes a field array. Returns the number of bytes written.
    @discardableResult
    public mutating func writeFieldArray(_ values: [FieldValue]) -> Int {
        let start = writerIndex
        writeInteger(UInt32(0))  // length, patched below
        for value in values {
            writeFieldValue(value)
        }
        setInteger(UInt32(truncatingIfNeeded: writerIndex - start - 4), at: start)
        return writerIndex - start
    }

    // MARK: Field values

    /// Reads one field value: a type octet and its payload.
    public mutating func readFieldValue() throws(AMQPProtocolError) -> FieldValue {
        let saved = readerIndex
        do throws(AMQPProtocolError) {
            return try readFieldValue(depth: 0)
        } catch {
            moveReaderIndex(to: saved)
            throw error
        }
    }

    /// Writes one field value: its type octet and payload. Returns the number of bytes written.
    @discardableResult
    public mutating func writeFieldValue(_ value: FieldValue) -> Int {
        let start = writerIndex
        switch value {
        case .boolean(let b):
            writeInteger(FieldTypeTag.boolean)
            writeInteger(UInt8(b ? 1 : 0))
        case .int8(let v):
            writeInteger(FieldTypeTag.int8)
            writeInteger(v)
        case .uint8(let v):
            writeInteger(FieldTypeTag.uint8)
            writeInteger(v)
        case .int16(let v):
            writeInteger(FieldTypeTag.int16)
            writeInteger(v)
        case .uint16(let v):
            writeInteger(FieldTypeTag.uint16)
            writeInteger(v)
        case .int32(let v):
            writeInteger(FieldTypeTag.int32)
            writeInteger(v)
        case .uint32(let v):
            writeInteger(FieldTypeTag.uint32)
            writeInteger(v)
        case .int64(let v):
            writeInteger(FieldTypeTag.int64)
            writeInteger(v)
        case .uint64(let v):
            writeInteger(FieldTypeTag.uint64)
            writeInteger(v)
        case .float(let v):
            writeInteger(FieldTypeTag.float)
            writeInteger(v.bitPattern)
        case .double(let v):
            writeInteger(FieldTypeTag.double)
            writeInteger(v.bitPattern)
        case .decimal(let scale, let v):
            writeInteger(FieldTypeTag.decimal)
            writeInteger(scale)
            writeInteger(v)
        case .longString(let bytes):
            writeInteger(FieldTypeTag.longString)
            writeLongString(bytes)
        case .array(let values):
            writeInteger(FieldTypeTag.array)
            writeFieldArray(values)
        case .timestamp(let v):
            writeInteger(FieldTypeTag.timestamp)
            writeInteger(v)
        case .table(let table):
            writeInteger(FieldTypeTag.table)
            writeFieldTable(table)
        case .void:
            writeInteger(FieldTypeTag.void)
        case .byteArray(let bytes):
            writeInteger(FieldTypeTag.byteArray)
            writeLongString(bytes)
        }
        return writerIndex - start
    }

    // MARK: Nested reading

    /// The contents of the table or array at the reader index (after its four-octet length),
    /// without moving the reader index.
    private func peekLengthPrefixedSlice(_ what: String) throws(AMQPProtocolError) -> ByteBuffer {
        guard let length = getInteger(at: readerIndex, as: UInt32.self),
            let slice = getSlice(at: readerIndex + 4, length: Int(length))
        else { throw AMQPProtocolError.syntaxError("truncated \(what)") }
        return slice
    }

    mutating func readFieldTable(depth: Int) throws(AMQPProtocolError) -> FieldTable {
        guard depth <= Self.maxFieldNestingDepth else {
            throw AMQPProtocolError.syntaxError("field tables nested more than \(Self.maxFieldNestingDepth) deep")
        }
        var contents = try peekLengthPrefixedSlice("field table")
        let total = 4 + contents.readableBytes
        var entries: [(key: String, value: FieldValue)] = []
        while contents.readableBytes > 0 {
            let key = try contents.readShortString()
            let value = try contents.readFieldValue(depth: depth)
            entries.append((key: key, value: value))
        }
        moveReaderIndex(forwardBy: total)
        return FieldTable(entries)
    }

    mutating func readFieldArray(depth: Int) throws(AMQPProtocolError) -> [FieldValue] {
        guard depth <= Self.maxFieldNestingDepth else {
            throw AMQPProtocolError.syntaxError("field arrays nested more than \(Self.maxFieldNestingDepth) deep")
        }
        var contents = try peekLengthPrefixedSlice("field array")
        let total = 4 + contents.readableBytes
        var values: [FieldValue] = []
        while contents.readableBytes > 0 {
            values.append(try contents.readFieldValue(depth: depth))
        }
        moveReaderIndex(forwardBy: total)
        return values
    }

    /// Reads a field value; on error the reader index may have moved (callers that promise
    /// otherwise restore it).
    mutating func readFieldValue(depth: Int) throws(AMQPProtocolError) -> FieldValue {
        let tag: UInt8 = try readAMQPInteger("field value")
        switch tag {
        case FieldTypeTag.boolean: return .boolean(try readAMQPInteger(as: UInt8.self, "boolean field") != 0)
        case FieldTypeTag.int8: return .int8(try readAMQPInteger("int8 field"))
        case FieldTypeTag.uint8: return .uint8(try readAMQPInteger("uint8 field"))
        case FieldTypeTag.int16: return .int16(try readAMQPInteger("int16 field"))
        case FieldTypeTag.uint16: return .uint16(try readAMQPInteger("uint16 field"))
        case FieldTypeTag.int32: return .int32(try readAMQPInteger("int32 field"))
        case FieldTypeTag.uint32: return .uint32(try readAMQPInteger("uint32 field"))
        case FieldTypeTag.int64: return .int64(try readAMQPInteger("int64 field"))
        case FieldTypeTag.uint64: return .uint64(try readAMQPInteger("uint64 field"))
        case FieldTypeTag.float: return .float(Float(bitPattern: try readAMQPInteger("float field")))
        case FieldTypeTag.double: return .double(Double(bitPattern: try readAMQPInteger("double field")))
        case FieldTypeTag.decimal:
            guard let scale = getInteger(at: readerIndex, as: UInt8.self),
                let value = getInteger(at: readerIndex + 1, as: UInt32.self)
            else { throw AMQPProtocolError.syntaxError("truncated decimal field") }
            moveReaderIndex(forwardBy: 5)
            return .decimal(scale: scale, value: value)
        case FieldTypeTag.longString: return .longString(try readLongString())
        case FieldTypeTag.array: return .array(try readFieldArray(depth: depth + 1))
        case FieldTypeTag.timestamp: return .timestamp(try readAMQPInteger("timestamp field"))
        case FieldTypeTag.table: return .table(try readFieldTable(depth: depth + 1))
        case FieldTypeTag.void: return .void
        case FieldTypeTag.byteArray: return .byteArray(try readLongString())
        default:
            throw AMQPProtocolError.syntaxError("unknown field type \(Self.describeTag(tag))")
        }
    }

    private static func describeTag(_ tag: UInt8) -> String {
        (0x21...0x7E).contains(tag) ? "'\(Character(Unicode.Scalar(tag)))'" : "0x\(String(tag, radix: 16))"
    }
}

extension String {
    /// True when the string fits a short string (at most 255 UTF-8 bytes) and so is written
    /// unaltered by `ByteBuffer.writeShortString(_:)`.
    public var fitsAMQPShortString: Bool { utf8.count <= ByteBuffer.maxShortStringLength }
}
