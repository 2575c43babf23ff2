import NIOCore

/// The eight octets a client sends before its first frame.
public enum ProtocolHeader {
    /// "AMQP" 0 0 9 1: AMQP 0-9-1.
    public static let amqp091: [UInt8] = Array("AMQP".utf8) + [0, 0, 9, 1]

    public enum CheckResult: Sendable, Equatable {
        /// The client speaks AMQP 0-9-1.
        case accepted
        /// Anything else; the spec asks the server to answer with its own header and close.
        case rejected(received: [UInt8])
    }

    /// Checks a client's protocol header: nil (consuming nothing) while fewer than 8 bytes are
    /// readable; otherwise consumes 8 bytes and says whether they are the AMQP 0-9-1 header.
    public static func check(_ buffer: inout ByteBuffer) -> CheckResult? {
        guard buffer.readableBytes >= amqp091.count else { return nil }
        let received = buffer.readBytes(length: amqp091.count)!
        return received == amqp091 ? .accepted : .rejected(received: received)
    }
}

extension ByteBuffer {
    /// Writes the AMQP 0-9-1 protocol header.
    @discardableResult
    public mutating func writeProtocolHeader() -> Int {
        writeBytes(ProtocolHeader.amqp091)
    }
}
