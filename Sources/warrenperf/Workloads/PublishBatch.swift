import AMQPProtocol
import NIOCore

/// Messages encoded once, to be written by the million: basic.publish, content header and body
/// frames, for each routing key in turn. The bytes hold the cycle of messages twice, so any run
/// of up to `count` consecutive messages is one slice (no copy, no encoding per publish).
struct PublishBatch {
    /// Messages in one cycle (a multiple of the number of routing keys).
    let count: Int
    private let bytes: ByteBuffer
    /// Offset of message i in `bytes`, for i in 0...2*count.
    private let offsets: [Int]
    private var cursor = 0

    /// A header that carries the routing key, for headers exchanges.
    static let keyHeader = "warrenperf-key"

    init(
        exchange: String, routingKeys: [String], bodySize: Int, persistent: Bool, keyInHeaders: Bool,
        frameMax: UInt32, targetBytes: Int = 64 * 1024
    ) {
        let keys = routingKeys.isEmpty ? [""] : routingKeys
        let body = ByteBuffer(repeating: UInt8(ascii: "x"), count: bodySize)
        let messageBytes = bodySize + 128
        let cycles = max(1, targetBytes / (messageBytes * keys.count))
        count = cycles * keys.count
        var bytes = ByteBufferAllocator().buffer(capacity: 2 * count * messageBytes)
        var offsets = [0]
        for i in 0..<(2 * count) {
            let key = keys[i % keys.count]
            let properties = RawProperties(
                BasicProperties(
                    headers: keyInHeaders ? [Self.keyHeader: .string(key)] : nil, deliveryMode: persistent ? 2 : 1))
            bytes.writeContent(
                channel: 1, method: BasicPublish(exchange: exchange, routingKey: key), properties: properties,
                body: body, frameMax: frameMax)
            offsets.append(bytes.writerIndex)
        }
        self.bytes = bytes
        self.offsets = offsets
    }

    /// The next `n` messages (1...count) of the cycle, as one slice.
    mutating func next(_ n: Int) -> ByteBuffer {
        precondition(n >= 1 && n <= count)
        let slice = bytes.getSlice(at: offsets[cursor], length: offsets[cursor + n] - offsets[cursor])!
        cursor = (cursor + n) % count
        return slice
    }
}
