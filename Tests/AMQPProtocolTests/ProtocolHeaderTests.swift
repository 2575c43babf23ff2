import AMQPProtocol
import NIOCore
import Testing

@Suite("Protocol header")
struct ProtocolHeaderTests {
    @Test("fewer than 8 bytes gives nil and consumes nothing")
    func partial() {
        for length in 0..<8 {
            var buffer = ByteBuffer(bytes: ProtocolHeader.amqp091[0..<length])
            #expect(ProtocolHeader.check(&buffer) == nil)
            #expect(buffer.readerIndex == 0)
        }
    }

    @Test("AMQP 0-9-1 is accepted and its 8 bytes consumed")
    func accepted() {
        var buffer = ByteBuffer(bytes: ProtocolHeader.amqp091 + [1, 0, 0])
        #expect(ProtocolHeader.check(&buffer) == .accepted)
        #expect(buffer.readableBytes == 3)
        #expect(encoded { $0.writeProtocolHeader() } == [0x41, 0x4D, 0x51, 0x50, 0, 0, 9, 1])
    }

    @Test("other versions and other protocols are rejected")
    func rejected() {
        let others: [[UInt8]] = [
            Array("AMQP".utf8) + [1, 1, 0, 9],  // pre-0-9-1 header
            Array("AMQP".utf8) + [0, 1, 0, 0],  // AMQP 1.0
            Array("AMQP".utf8) + [3, 1, 0, 0],  // AMQP 1.0 SASL
            Array("GET / HT".utf8),
        ]
        for bytes in others {
            var buffer = ByteBuffer(bytes: bytes)
            #expect(ProtocolHeader.check(&buffer) == .rejected(received: bytes))
        }
    }
}
