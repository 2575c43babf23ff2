import AMQPProtocol
import NIOCore

/// The server side of request/reply: answers every request on its queue with a message of the
/// same size to the request's reply-to, carrying its correlation-id. Consumes without acks.
final class RPCResponder: ChannelObserver {
    private let handler: AMQPClientHandler
    private let meter: RateMeter
    private let body: ByteBuffer
    var stopped = false

    init(handler: AMQPClientHandler, bodySize: Int, meter: RateMeter) {
        self.handler = handler
        self.meter = meter
        self.body = ByteBuffer(repeating: UInt8(ascii: "r"), count: bodySize)
    }

    func delivered(tag: UInt64, redelivered: Bool, properties: RawProperties, bodySize: Int) {
        guard !stopped, let replyTo = properties.replyTo else { return }
        let reply = RawProperties(BasicProperties(correlationID: properties.correlationID))
        handler.publish(BasicPublish(exchange: "", routingKey: replyTo), properties: reply, body: body, channel: 1)
    }

    func closed(_ error: ClientError) {
        if !stopped { meter.record(error: "responder: \(error)") }
    }
}
