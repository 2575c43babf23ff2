import AMQPProtocol

/// A message being received on a channel: the method that announced it, then its content
/// header, then body frames until the header's body size is reached. Body bytes are counted,
/// not kept: a load tool only needs to know the message arrived.
struct IncomingContent {
    enum Announcement {
        case deliver(tag: UInt64, redelivered: Bool)
        /// basic.return or basic.get-ok: consumed and dropped.
        case other
    }

    let announcement: Announcement
    private(set) var properties = RawProperties.empty
    private(set) var bodySize = -1
    private var received = 0

    init(_ announcement: Announcement) {
        self.announcement = announcement
    }

    var awaitingHeader: Bool { bodySize < 0 }
    var isComplete: Bool { bodySize >= 0 && received >= bodySize }

    mutating func header(bodySize: UInt64, properties: RawProperties) {
        self.bodySize = Int(clamping: bodySize)
        self.properties = properties
    }

    /// Counts a body frame's payload; false when it overruns the announced size.
    mutating func body(_ length: Int) -> Bool {
        received += length
        return received <= bodySize
    }
}
