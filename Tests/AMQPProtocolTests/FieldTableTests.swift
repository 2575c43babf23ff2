import AMQPProtocol
import NIOCore
import Testing

@Suite("Field tables and primitives")
struct FieldTableTests {
    static let everyType: [(String, FieldValue)] = [
        ("boolean", .boolean(true)),
        ("int8", .int8(-5)),
        ("uint8", .uint8(250)),
        ("int16", .int16(-30000)),
        ("uint16", .uint16(60000)),
        ("int32", .int32(-2_000_000_000)),
        ("uint32", .uint32(4_000_000_000)),
        ("int64", .int64(-9_000_000_000_000_000_000)),
        ("uint64", .uint64(18_000_000_000_000_000_000)),
        ("float", .float(-1.25)),
        ("double", .double(3.5e300)),
        ("decimal", .decimal(scale: 2, value: 12345)),
        ("longString", .string("héllo")),
        ("array", .array([.int32(1), .string("two"), .void])),
        ("timestamp", .timestamp(1_700_000_000)),
        ("table", .table(["inner": .boolean(false)])),
        ("void", .void),
        ("byteArray", .byteArray([0, 1, 0xFF])),
    ]

    @Test("every field type round-trips through a table", arguments: everyType.map(\.0))
    func everyTypeRoundTrips(name: String) throws {
        let value = Self.everyType.first { $0.0 == name }!.1
        let table: FieldTable = ["k": value]
        var buffer = ByteBuffer()
        buffer.writeFieldTable(table)
        let decoded = try buffer.readFieldTable()
        #expect(decoded == table)
        #expect(buffer.readableBytes == 0)
    }

    @Test("each type is written with RabbitMQ's tag and payload")
    func handComputedEncodings() {
        let cases: [(FieldValue, String)] = [
            (.boolean(true), "7401"),
            (.int8(-1), "62ff"),
            (.uint8(0x80), "4280"),
            (.int16(-2), "73fffe"),
            (.uint16(0x1234), "751234"),
            (.int32(-1), "49ffffffff"),
            (.uint32(0x0102_0304), "6901020304"),
            (.int64(1), "6c0000000000000001"),
            (.uint64(0xFFFF_FFFF_FFFF_FFFF), "4cffffffffffffffff"),
            (.float(1.0), "663f800000"),
            (.double(1.0), "643ff0000000000000"),
            (.decimal(scale: 3, value: 0x0102), "440300000102"),
            (.string("ab"), "53000000026162"),
            (.array([.uint8(7)]), "41000000024207"),
            (.timestamp(0x10), "540000000000000010"),
            (.table(["a": .void]), "46000000030161" + "56"),
            (.void, "56"),
            (.byteArray([0xAB]), "7800000001ab"),
        ]
        for (value, hex) in cases {
            #expect(encoded { $0.writeFieldValue(value) }.hex == hex, "\(value)")
            var buffer = ByteBuffer(hex: hex)
            #expect((try? buffer.readFieldValue()) == value)
        }
    }

    @Test("nested tables and arrays round-trip")
    func nestedRoundTrip() throws {
        let table: FieldTable = [
            "x-death": .array([
                .table([
                    "count": .int64(3), "reason": .string("expired"),
                    "routing-keys": .array([.string("a"), .string("b")]),
                    "time": .timestamp(1_700_000_000),
                ])
            ]),
            "deep": .table(["a": .table(["b": .array([.array([.table(["c": .int8(1)])])])])]),
            "empty-table": .table([:]),
            "empty-array": .array([]),
        ]
        var buffer = ByteBuffer()
        buffer.writeFieldTable(table)
        #expect(try buffer.readFieldTable() == table)
    }

    @Test("a decoded table re-encodes to the same bytes, order and duplicate keys kept")
    func decodeThenEncodeIsIdentity() throws {
        // "b" then "a" then "b" again: entries keep wire order and duplicates.
        let hex = "0000001a" + "0162" + "4901020304" + "0161" + "56" + "0162" + "53000000036f6e65" + ""
        var buffer = ByteBuffer(hex: fixedLength(hex))
        let table = try buffer.readFieldTable()
        #expect(table.entries.map(\.key) == ["b", "a", "b"])
        #expect(encoded { $0.writeFieldTable(table) }.hex == fixedLength(hex))
    }

    /// Rewrites the 4-byte length prefix of a hex table to match its contents.
    private func fixedLength(_ hex: String) -> String {
        let body = String(hex.dropFirst(8))
        return String(format: "%08x", body.count / 2) + body
    }

    @Test("field arrays round-trip on their own")
    func arraysRoundTrip() throws {
        let values: [FieldValue] = [.int16(-1), .string("x"), .table(["t": .boolean(true)]), .array([])]
        var buffer = ByteBuffer()
        buffer.writeFieldArray(values)
        #expect(try buffer.readFieldArray() == values)
    }

    @Test("skipFieldTable moves past the table without decoding it")
    func skipTable() throws {
        var buffer = ByteBuffer()
        buffer.writeFieldTable(["a": .string("b"), "n": .table(["m": .void])])
        buffer.writeInteger(UInt8(0x42))
        try buffer.skipFieldTable()
        #expect(buffer.readInteger(as: UInt8.self) == 0x42)
        var short = ByteBuffer(hex: "0000000a0102")
        #expect(capturedError { try short.skipFieldTable() }?.replyCode == ReplyCode.syntaxError)
        #expect(short.readerIndex == 0)
    }

    @Test("an unknown type tag is a syntax error and consumes nothing")
    func unknownTag() {
        var buffer = ByteBuffer(hex: "00000003" + "0161" + "5a")  // 'Z'
        let error = capturedError { try buffer.readFieldTable() }
        #expect(error?.replyCode == ReplyCode.syntaxError)
        #expect(error?.text.contains("'Z'") == true)
        #expect(buffer.readerIndex == 0)
    }

    @Test("truncated tables, arrays and strings throw and consume nothing")
    func truncation() throws {
        var full = ByteBuffer()
        full.writeFieldTable(["key": .string("value"), "arr": .array([.int32(1), .int64(2)])])
        let bytes = full.readableBytesArray
        for length in 0..<bytes.count {
            var buffer = ByteBuffer(bytes: bytes[0..<length])
            #expect(capturedError { try buffer.readFieldTable() }?.replyCode == ReplyCode.syntaxError)
            #expect(buffer.readerIndex == 0)
        }
        var shortString = ByteBuffer(hex: "05616263")
        #expect(capturedError { try shortString.readShortString() } != nil)
        var longString = ByteBuffer(hex: "00000005616263")
        #expect(capturedError { try longString.readLongString() } != nil)
        #expect(longString.readerIndex == 0)
    }

    @Test("a table whose length cuts a value in half is rejected")
    func lengthCutsValue() {
        // Declared length 6 covers the key and tag plus half of the int32.
        var buffer = ByteBuffer(hex: "00000006" + "0161" + "49000000" + "01")
        #expect(capturedError { try buffer.readFieldTable() }?.replyCode == ReplyCode.syntaxError)
    }

    @Test("nesting deeper than the limit is rejected rather than recursing without bound")
    func nestingLimit() {
        func nested(_ depth: Int) -> FieldValue {
            var value: FieldValue = .void
            for _ in 0..<depth { value = .array([value]) }
            return value
        }
        var ok = ByteBuffer()
        ok.writeFieldTable(["a": nested(ByteBuffer.maxFieldNestingDepth)])
        #expect((try? ok.readFieldTable()) != nil)
        var tooDeep = ByteBuffer()
        tooDeep.writeFieldTable(["a": nested(ByteBuffer.maxFieldNestingDepth + 1)])
        #expect(capturedError { try tooDeep.readFieldTable() }?.replyCode == ReplyCode.syntaxError)
        var hostile = ByteBuffer()  // 100k nested arrays: must fail cleanly, not overflow the stack
        for i in 0..<100_000 {
            hostile.writeInteger(UInt8(ascii: "A"))
            hostile.writeInteger(UInt32(5 * (100_000 - i - 1)))
        }
        #expect(capturedError { try hostile.readFieldValue() } != nil)
    }

    @Test("short strings over 255 bytes are truncated at a character boundary")
    func shortStringTruncation() throws {
        var buffer = ByteBuffer()
        let ascii = String(repeating: "a", count: 300)
        #expect(buffer.writeShortString(ascii) == 256)
        #expect(try buffer.readShortString() == String(repeating: "a", count: 255))
        // 127 two-byte characters = 254 bytes; one more would split at 255 -> keep 254.
        let twoByte = String(repeating: "é", count: 200)
        buffer.writeShortString(twoByte)
        #expect(try buffer.readShortString() == String(repeating: "é", count: 127))
        #expect(!twoByte.fitsAMQPShortString)
        #expect(String(repeating: "x", count: 255).fitsAMQPShortString)
    }

    @Test("short strings with invalid UTF-8 decode leniently")
    func invalidUTF8() throws {
        var buffer = ByteBuffer(hex: "0261ff")
        #expect(try buffer.readShortString() == "a\u{FFFD}")
    }

    @Test("long strings carry arbitrary bytes")
    func longStrings() throws {
        var buffer = ByteBuffer()
        buffer.writeLongString([0, 0xFF, 0x80])
        buffer.writeLongString("PLAIN AMQPLAIN")
        #expect(try buffer.readLongString() == [0, 0xFF, 0x80])
        #expect(try buffer.readLongString() == Array("PLAIN AMQPLAIN".utf8))
    }

    @Test("FieldTable keeps order and its subscript replaces the first entry")
    func fieldTableBasics() {
        var table: FieldTable = ["a": .int8(1), "b": .int8(2)]
        table["a"] = .int8(3)
        table["c"] = .void
        #expect(table.entries.map(\.key) == ["a", "b", "c"])
        #expect(table["a"] == .int8(3))
        table["b"] = nil
        #expect(table.entries.map(\.key) == ["a", "c"])
    }
}
