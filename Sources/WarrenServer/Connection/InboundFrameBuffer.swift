import NIOCore

/// Gathers the bytes of a frame split across socket reads without quadratic copying.
///
/// Whole frames are decoded straight from each read buffer (bodies stay slices of it). Only a
/// frame cut by the end of a read is copied, once, into a buffer sized for the whole frame,
/// which the following reads fill in place.
struct InboundFrameBuffer {
    private var partial: ByteBuffer?

    /// Length of the frame starting at the buffer's reader index, once its header is there.
    private static func frameLength(_ buffer: ByteBuffer) -> Int? {
        guard let size = buffer.getInteger(at: buffer.readerIndex + 3, as: UInt32.self) else { return nil }
        return Int(size) + 8
    }

    /// Feeds one socket read; `decode` is called with buffers holding whole frames (and
    /// possibly a trailing partial one, which it must leave unread).
    mutating func feed<E: Error>(
        _ incoming: ByteBuffer, maxFrameSize: Int, allocator: ByteBufferAllocator,
        decode: (inout ByteBuffer) throws(E) -> Void
    ) throws(E) {
        var incoming = incoming
        if var p = partial {
            partial = nil
            while true {
                let need = Self.frameLength(p) ?? 8
                if need > maxFrameSize {
                    // Oversized: let the decoder reject it without gathering the bytes.
                    try decode(&p)
                    return
                }
                let missing = need - p.readableBytes
                if missing <= 0 { break }
                guard incoming.readableBytes > 0 else {
                    partial = p
                    return
                }
                var chunk = incoming.readSlice(length: min(missing, incoming.readableBytes))!
                p.writeBuffer(&chunk)
            }
            try decode(&p)
            if p.readableBytes > 0 {
                // The decoder stopped (the connection is closing); keep nothing.
                return
            }
        }
        guard incoming.readableBytes > 0 else { return }
        try decode(&incoming)
        if incoming.readableBytes > 0 {
            let need = Self.frameLength(incoming) ?? 8
            var p = allocator.buffer(capacity: min(max(need, incoming.readableBytes), maxFrameSize + 8))
            p.writeBuffer(&incoming)
            partial = p
        }
    }

    mutating func reset() { partial = nil }
}
