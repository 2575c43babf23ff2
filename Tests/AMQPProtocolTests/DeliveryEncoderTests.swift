import AMQPProtocol
import NIOCore
import Testing

/// The one-pass basic.deliver writer must produce exactly the bytes of the general writer.
@Suite("Delivery encoding")
struct DeliveryEncoderTests {
    func body(count: Int) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7) })
    }

    func general(
        _ deliver: BasicDeliver, properties: RawProperties, body: ByteBuffer, frameMax: UInt32, channel: UInt16 = 3
    ) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeContent(channel: channel, method: deliver, properties: properties, body: body, frameMax: frameMax)
        return buffer
    }

    func fast(
        _ d: BasicDeliver, properties: RawProperties, body: ByteBuffer, frameMax: UInt32, includeBody: Bool = true,
        channel: UInt16 = 3
    ) -> (ByteBuffer, Int?) {
        var buffer = ByteBuffer(string: "prefix")
        buffer.moveReaderIndex(forwardBy: 6)
        let written = buffer.writeDelivery(
            channel: channel, consumerTag: d.consumerTag, deliveryTag: d.deliveryTag, redelivered: d.redelivered,
            exchange: d.exchange, routingKey: d.routingKey, properties: properties, body: body, frameMax: frameMax,
            includeBody: includeBody)
        return (buffer, written)
    }

    @Test(
        "same bytes as writeContent",
        arguments: [(0, UInt32(131072)), (16, 131072), (5000, 4096), (8176, 4096), (8177, 4096), (70000, 0)])
    func sameBytes(size: Int, frameMax: UInt32) {
        let properties = RawProperties(
            BasicProperties(
                contentType: "text/plain", headers: ["k": .longString(Array("v".utf8))], deliveryMode: 2,
                correlationID: "42"))
        let deliver = BasicDeliver(
            consumerTag: "ctag-é", deliveryTag: 0x0102_0304_0506_0708, redelivered: true, exchange: "ex",
            routingKey: "rk.1")
        let expected = general(deliver, properties: properties, body: body(count: size), frameMax: frameMax)
        let (buffer, written) = fast(deliver, properties: properties, body: body(count: size), frameMax: frameMax)
        #expect(written == expected.readableBytes)
        #expect(buffer == expected)
    }

    @Test("without the body: the method and header frames only")
    func withoutBody() {
        let deliver = BasicDeliver(consumerTag: "c", deliveryTag: 9, redelivered: false, exchange: "", routingKey: "q")
        let properties = RawProperties(BasicProperties())
        var expected = ByteBuffer()
        expected.writeMethodFrame(channel: 3, deliver)
        expected.writeContentHeaderFrame(channel: 3, bodySize: 20000, properties: properties)
        let (buffer, written) = fast(
            deliver, properties: properties, body: body(count: 20000), frameMax: 131072, includeBody: false)
        #expect(written == expected.readableBytes)
        #expect(buffer == expected)
    }

    @Test("a name longer than a short string is left to the general writer")
    func longName() {
        let deliver = BasicDeliver(
            consumerTag: "c", deliveryTag: 1, redelivered: false, exchange: "",
            routingKey: String(repeating: "r", count: 256))
        let (buffer, written) = fast(
            deliver, properties: RawProperties(BasicProperties()), body: body(count: 4), frameMax: 0)
        #expect(written == nil)
        #expect(buffer.readableBytes == 0)
    }
}
