import AMQPProtocol
import NIOCore
import Testing

@Suite("Content properties")
struct PropertiesTests {
    static let full = BasicProperties(
        contentType: "application/json", contentEncoding: "gzip", headers: ["h": .int32(1)], deliveryMode: 2,
        priority: 9, correlationID: "corr", replyTo: "amq.rabbitmq.reply-to", expiration: "60000",
        messageID: "m-1", timestamp: 1_700_000_000, type: "t", userID: "guest", appID: "app", clusterID: "c")

    @Test("all properties round-trip with every flag bit set from 15 down to 2")
    func fullRoundTrip() throws {
        var buffer = ByteBuffer()
        Self.full.encode(into: &buffer)
        #expect(buffer.getInteger(at: 0, as: UInt16.self) == 0b1111_1111_1111_1100)
        #expect(try BasicProperties.decode(from: &buffer) == Self.full)
        #expect(buffer.readableBytes == 0)
    }

    @Test("flags and fields match hand-computed bytes")
    func handComputed() throws {
        let properties = BasicProperties(contentType: "a", deliveryMode: 2, timestamp: 3)
        // content-type (bit 15), delivery-mode (bit 12), timestamp (bit 6)
        #expect(encoded { properties.encode(into: &$0) }.hex == "9040" + "0161" + "02" + "0000000000000003")
        #expect(RawProperties.empty.bytes.readableBytesArray == [0, 0])
        #expect(try RawProperties.empty.decode() == BasicProperties())
    }

    @Test("continuation flag words are read and ignored")
    func continuationWords() throws {
        // Flags: content-type | continuation; then two more words (the second ends the chain).
        let hex = "8001" + "0003" + "0000" + "0178"
        var buffer = ByteBuffer(hex: hex)
        #expect(try BasicProperties.decode(from: &buffer) == BasicProperties(contentType: "x"))
        let raw = RawProperties(bytes: ByteBuffer(hex: hex))
        #expect(raw.contentType == "x")
        #expect(raw.deliveryMode == nil)
        #expect(throws: Never.self) { try raw.validate() }
    }

    @Test("truncated properties are a syntax error on class 60 and consume nothing")
    func truncated() {
        var full = ByteBuffer()
        Self.full.encode(into: &full)
        let bytes = full.readableBytesArray
        for length in 0..<bytes.count {
            var buffer = ByteBuffer(bytes: bytes[0..<length])
            let error = capturedError { try BasicProperties.decode(from: &buffer) }
            #expect(error?.replyCode == ReplyCode.syntaxError && error?.classID == 60)
            #expect(buffer.readerIndex == 0)
            let raw = RawProperties(bytes: ByteBuffer(bytes: bytes[0..<length]))
            #expect(capturedError { try raw.validate() }?.replyCode == ReplyCode.syntaxError)
        }
    }

    @Test("RawProperties accessors agree with BasicProperties.decode for random properties")
    func rawAgreesWithDecode() throws {
        var rng = SeededGenerator(seed: 2024)
        for _ in 0..<2000 {
            let properties = RandomValues.properties(&rng)
            let raw = RawProperties(properties)
            try raw.validate()
            let decoded = try raw.decode()
            #expect(decoded == properties)
            #expect(raw.flags == properties.flags)
            #expect(raw.contentType == decoded.contentType)
            #expect(raw.contentEncoding == decoded.contentEncoding)
            #expect(raw.headers == decoded.headers)
            #expect(raw.deliveryMode == decoded.deliveryMode)
            #expect(raw.priority == decoded.priority)
            #expect(raw.correlationID == decoded.correlationID)
            #expect(raw.replyTo == decoded.replyTo)
            #expect(raw.expiration == decoded.expiration)
            #expect(raw.messageID == decoded.messageID)
            #expect(raw.timestamp == decoded.timestamp)
            #expect(raw.type == decoded.type)
            #expect(raw.userID == decoded.userID)
            #expect(raw.appID == decoded.appID)
            #expect(raw.clusterID == decoded.clusterID)
            if let userID = properties.userID {
                #expect(raw.userIDEquals(userID))
                #expect(!raw.userIDEquals(userID + "x"))
                #expect(userID.isEmpty || !raw.userIDEquals(String(userID.dropLast())))
            } else {
                #expect(!raw.userIDEquals(""))
            }
        }
    }

    @Test("RawProperties reads a slice that does not start at index 0")
    func rawOverSlice() throws {
        var buffer = ByteBuffer()
        buffer.writeString("prefix")
        Self.full.encode(into: &buffer)
        buffer.moveReaderIndex(forwardBy: 6)
        let raw = RawProperties(bytes: buffer.slice())
        #expect(raw.userIDEquals("guest"))
        #expect(raw.priority == 9)
        let offset = RawProperties(bytes: buffer)
        #expect(offset.userIDEquals("guest"))
        #expect(offset.expiration == "60000")
        #expect(try offset.decode() == Self.full)
    }

    @Test("mutated property bytes never crash the raw accessors or validation")
    func mutatedRawProperties() {
        var rng = SeededGenerator(seed: 5)
        for _ in 0..<2000 {
            var bytes = RawProperties(RandomValues.properties(&rng)).bytes.readableBytesArray
            if Bool.random(using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = .random(in: 0...255, using: &rng)
            } else {
                bytes = Array(bytes[0..<Int.random(in: 0..<bytes.count, using: &rng)])
            }
            let raw = RawProperties(bytes: ByteBuffer(bytes: bytes))
            let valid = (try? raw.validate()) != nil
            _ = (raw.headers, raw.deliveryMode, raw.priority, raw.expiration, raw.replyTo, raw.userID)
            _ = (raw.timestamp, raw.clusterID, raw.userIDEquals("guest"))
            if valid {
                #expect((try? raw.decode()) != nil)
            }
        }
    }
}
