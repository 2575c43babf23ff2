import AMQPProtocol
import NIOCore

/// One request/reply client: sends a request to the request queue with its reply queue as
/// reply-to, waits for the reply with the same correlation-id, records the round trip, and
/// sends the next at once. Runs on its connection's event loop.
final class RPCClient: ChannelObserver {
    private let handler: AMQPClientHandler
    private let requestQueue: String
    private let replyTo: String
    private let meter: RateMeter
    private let body: ByteBuffer
    private var sequence = 0
    private var expected = ""
    private var sentAt: UInt64 = 0
    private var completed = 0
    private(set) var histogram = LatencyHistogram()
    private var stopped = false

    init(handler: AMQPClientHandler, requestQueue: String, replyTo: String, bodySize: Int, meter: RateMeter) {
        self.handler = handler
        self.requestQueue = requestQueue
        self.replyTo = replyTo
        self.meter = meter
        self.body = ByteBuffer(repeating: UInt8(ascii: "q"), count: bodySize)
    }

    func start() { sendRequest() }

    /// Stops after the call in flight; returns the round trips measured.
    func stop() -> LatencyHistogram {
        stopped = true
        return histogram
    }

    private func sendRequest() {
        sequence += 1
        expected = String(sequence)
        let properties = RawProperties(BasicProperties(correlationID: expected, replyTo: replyTo))
        sentAt = NIODeadline.now().uptimeNanoseconds
        handler.publish(
            BasicPublish(exchange: "", routingKey: requestQueue), properties: properties, body: body, channel: 1)
    }

    func delivered(tag: UInt64, redelivered: Bool, properties: RawProperties, bodySize: Int) {
        guard !stopped, properties.correlationID == expected else { return }
        histogram.record(nanoseconds: NIODeadline.now().uptimeNanoseconds &- sentAt)
        completed += 1
        sendRequest()
    }

    func readBurstEnded() {
        if completed > 0 {
            meter.add(operations: completed)
            completed = 0
        }
    }

    func closed(_ error: ClientError) {
        if !stopped { meter.record(error: "client: \(error)") }
    }
}
