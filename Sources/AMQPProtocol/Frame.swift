import NIOCore

/// One AMQP 0-9-1 frame.
public enum Frame: Sendable, Equatable {
    case method(channel: UInt16, AMQPMethod)
    case header(channel: UInt16, ContentHeader)
    /// A body frame's payload: a slice of the buffer it was decoded from, never a copy.
    case body(channel: UInt16, ByteBuffer)
    case heartbeat

    /// The frame's channel (0 for heartbeats).
    public var channel: UInt16 {
        switch self {
        case .method(let channel, _), .header(let channel, _), .body(let channel, _): return channel
        case .heartbeat: return 0
        }
    }
}

/// Frame type octets and framing constants.
public enum FrameType {
    public static let method: UInt8 = 1
    public static let header: UInt8 = 2
    public static let body: UInt8 = 3
    public static let heartbeat: UInt8 = 8

    /// The octet that ends every frame.
    public static let frameEnd: UInt8 = 0xCE
    /// Bytes a frame adds around its payload: type, channel and size (7), and the end octet.
    public static let overhead = 8
    /// The smallest frame_max a peer may impose (the spec's frame-min-size).
    public static let minimumFrameMax: UInt32 = 4096
}
