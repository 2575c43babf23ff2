import AMQPProtocol
import NIOCore

/// A published message: immutable once routed, shared (not copied) by every queue it lands in.
///
/// `properties` and `body` are slices of the buffers the message arrived in; they are written
/// back to consumers as they are, so the broker never re-encodes or copies them.
public final class Message: @unchecked Sendable {
    public let exchange: String
    public let routingKey: String
    public let properties: RawProperties
    public let body: ByteBuffer

    public init(exchange: String, routingKey: String, properties: RawProperties, body: ByteBuffer) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.properties = properties
        self.body = body
    }

    public var bodySize: Int { body.readableBytes }
}
