import AMQPProtocol
import Benchmark
import NIOCore

/// Frame decoding of what publishers send (basic.publish, content header, body), and
/// encoding of what consumers receive (basic.deliver with its content). One operation is one
/// message: three frames.
func frameCodingBenchmarks() {
    for bodySize in [16, 1024] {
        Benchmark("Decode basic.publish + header + body (\(bodySize) B)") { benchmark in
            var bytes = publishFrames(count: benchmark.scaledIterations.count, bodySize: bodySize)
            var decoder = FrameDecoder(maxFrameSize: 131_072)
            benchmark.startMeasurement()
            while let frame = try decoder.next(from: &bytes) { blackHole(frame) }
        }

        Benchmark("Encode basic.deliver + header + body (\(bodySize) B)") { benchmark in
            let body = ByteBuffer(repeating: 0x78, count: bodySize)
            let properties = RawProperties(BasicProperties(contentType: "application/json", deliveryMode: 2))
            var out = ByteBufferAllocator().buffer(capacity: 1 << 20)
            var tag: UInt64 = 0
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                tag += 1
                let deliver = BasicDeliver(
                    consumerTag: "amq.ctag-benchmark", deliveryTag: tag, redelivered: false, exchange: "orders",
                    routingKey: "orders.created.eu")
                out.writeContent(channel: 1, method: deliver, properties: properties, body: body, frameMax: 131_072)
                if out.readableBytes > 512 * 1024 { out.clear() }
            }
            blackHole(out)
        }
    }
}

/// `count` publishes of `bodySize` bytes as a client writes them.
private func publishFrames(count: Int, bodySize: Int) -> ByteBuffer {
    let body = ByteBuffer(repeating: 0x78, count: bodySize)
    let properties = RawProperties(BasicProperties(contentType: "application/json", deliveryMode: 2))
    var wire = ByteBufferAllocator().buffer(capacity: count * (bodySize + 128))
    for _ in 0..<count {
        wire.writeContent(
            channel: 1, method: BasicPublish(exchange: "orders", routingKey: "orders.created.eu"),
            properties: properties, body: body, frameMax: 131_072)
    }
    return wire
}
