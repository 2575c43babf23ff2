import AMQPProtocol
import NIOCore
import Testing

@Suite("Field tables, randomized")
struct FieldTablePropertyTests {
    @Test("random field value trees round-trip, and re-encoding gives the same bytes")
    func randomTreesRoundTrip() throws {
        var rng = SeededGenerator(seed: 0xF1E1D)
        for _ in 0..<3000 {
            let table = RandomValues.fieldTable(&rng)
            var buffer = ByteBuffer()
            let written = buffer.writeFieldTable(table)
            let bytes = buffer.readableBytesArray
            #expect(written == bytes.count)
            let decoded = try buffer.readFieldTable()
            #expect(buffer.readableBytes == 0)
            #expect(identical(decoded, table))
            #expect(encoded { $0.writeFieldTable(decoded) } == bytes)
        }
    }

    @Test("random single values round-trip through readFieldValue")
    func randomValuesRoundTrip() throws {
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<3000 {
            let value = RandomValues.fieldValue(&rng)
            var buffer = ByteBuffer()
            buffer.writeFieldValue(value)
            #expect(identical(try buffer.readFieldValue(), value))
        }
    }

    @Test("mutated and truncated tables never crash: they decode or throw, consuming nothing on error")
    func mutationsNeverCrash() {
        var rng = SeededGenerator(seed: 7)
        var decodedCount = 0
        var thrownCount = 0
        for _ in 0..<3000 {
            var clean = ByteBuffer()
            clean.writeFieldTable(RandomValues.fieldTable(&rng))
            var bytes = clean.readableBytesArray
            switch Int.random(in: 0..<3, using: &rng) {
            case 0:  // flip bytes
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = .random(in: 0...255, using: &rng)
                }
            case 1:  // truncate
                bytes = Array(bytes[0..<Int.random(in: 0..<bytes.count, using: &rng)])
            default:  // flip then append junk
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= 0xFF
                bytes += RandomValues.bytes(&rng)
            }
            var buffer = ByteBuffer(bytes: bytes)
            do {
                _ = try buffer.readFieldTable()
                decodedCount += 1
                #expect(buffer.readerIndex <= bytes.count)
            } catch {
                thrownCount += 1
                #expect(buffer.readerIndex == 0)
            }
            var skipper = ByteBuffer(bytes: bytes)
            _ = try? skipper.skipFieldTable()
        }
        #expect(decodedCount > 0)
        #expect(thrownCount > 0)
    }

    @Test("random bytes never crash the table reader")
    func randomBytes() {
        var rng = SeededGenerator(seed: 99)
        for _ in 0..<3000 {
            var bytes = RandomValues.bytes(&rng, maxLength: 64)
            if bytes.count >= 4 && Bool.random(using: &rng) {  // plausible length prefix
                let length = UInt32(bytes.count - 4)
                bytes[0] = 0
                bytes[1] = 0
                bytes[2] = UInt8(length >> 8)
                bytes[3] = UInt8(length & 0xFF)
            }
            var buffer = ByteBuffer(bytes: bytes)
            _ = try? buffer.readFieldTable()
        }
    }
}
