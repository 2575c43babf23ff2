import NIOCore

/// The basic class's content-header properties, decoded. `nil` means absent (flag bit clear).
///
/// For forwarding messages without decoding them, see `RawProperties`.
public struct BasicProperties: Sendable, Equatable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: FieldTable?
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    public var correlationID: String?
    public var replyTo: String?
    public var expiration: String?
    public var messageID: String?
    public var timestamp: UInt64?
    public var type: String?
    public var userID: String?
    public var appID: String?
    public var clusterID: String?

    public init(
        contentType: String? = nil,
        contentEncoding: String? = nil,
        headers: FieldTable? = nil,
        deliveryMode: UInt8? = nil,
        priority: UInt8? = nil,
        correlationID: String? = nil,
        replyTo: String? = nil,
        expiration: String? = nil,
        messageID: String? = nil,
        timestamp: UInt64? = nil,
        type: String? = nil,
        userID: String? = nil,
        appID: String? = nil,
        clusterID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
        self.clusterID = clusterID
    }

    /// Reads the property-flags word (and ignores any continuation words, as the basic class
    /// defines no properties past the first word), then the fields whose flags are set.
    /// Throws a syntax error (class 60) on truncated or malformed input, leaving the reader
    /// index unchanged.
    public static func decode(from buffer: inout ByteBuffer) throws(AMQPProtocolError) -> BasicProperties {
        var cursor = buffer
        do throws(AMQPProtocolError) {
            let flags: UInt16 = try cursor.readAMQPInteger("property flags")
            var word = flags
            while word & PropertyField.continuationBit != 0 {
                word = try cursor.readAMQPInteger("property flags")
            }
            var p = BasicProperties()
            func has(_ field: PropertyField) -> Bool { flags & field.mask != 0 }
            if has(.contentType) { p.contentType = try cursor.readShortString() }
            if has(.contentEncoding) { p.contentEncoding = try cursor.readShortString() }
            if has(.headers) { p.headers = try cursor.readFieldTable() }
            if has(.deliveryMode) { p.deliveryMode = try cursor.readAMQPInteger("delivery-mode") }
            if has(.priority) { p.priority = try cursor.readAMQPInteger("priority") }
            if has(.correlationID) { p.correlationID = try cursor.readShortString() }
            if has(.replyTo) { p.replyTo = try cursor.readShortString() }
            if has(.expiration) { p.expiration = try cursor.readShortString() }
            if has(.messageID) { p.messageID = try cursor.readShortString() }
            if has(.timestamp) { p.timestamp = try cursor.readAMQPInteger("timestamp") }
            if has(.type) { p.type = try cursor.readShortString() }
            if has(.userID) { p.userID = try cursor.readShortString() }
            if has(.appID) { p.appID = try cursor.readShortString() }
            if has(.clusterID) { p.clusterID = try cursor.readShortString() }
            buffer.moveReaderIndex(to: cursor.readerIndex)
            return p
        } catch {
            throw AMQPProtocolError.syntaxError("malformed content header properties: \(error.text)", classID: 60)
        }
    }

    /// The property-flags word for the properties that are set.
    public var flags: UInt16 {
        var flags: UInt16 = 0
        func set(_ field: PropertyField, _ present: Bool) { if present { flags |= field.mask } }
        set(.contentType, contentType != nil)
        set(.contentEncoding, contentEncoding != nil)
        set(.headers, headers != nil)
        set(.deliveryMode, deliveryMode != nil)
        set(.priority, priority != nil)
        set(.correlationID, correlationID != nil)
        set(.replyTo, replyTo != nil)
        set(.expiration, expiration != nil)
        set(.messageID, messageID != nil)
        set(.timestamp, timestamp != nil)
        set(.type, type != nil)
        set(.userID, userID != nil)
        set(.appID, appID != nil)
        set(.clusterID, clusterID != nil)
        return flags
    }

    /// Writes the property-flags word and the fields that are set. Strings over 255 bytes are
    /// truncated (see `ByteBuffer.writeShortString(_:)`).
    public func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(flags)
        if let contentType { buffer.writeShortString(contentType) }
        if let contentEncoding { buffer.writeShortString(contentEncoding) }
        if let headers { buffer.writeFieldTable(headers) }
        if let deliveryMode { buffer.writeInteger(deliveryMode) }
        if let priority { buffer.writeInteger(priority) }
        if let correlationID { buffer.writeShortString(correlationID) }
        if let replyTo { buffer.writeShortString(replyTo) }
        if let expiration { buffer.writeShortString(expiration) }
        if let messageID { buffer.writeShortString(messageID) }
        if let timestamp { buffer.writeInteger(timestamp) }
        if let type { buffer.writeShortString(type) }
        if let userID { buffer.writeShortString(userID) }
        if let appID { buffer.writeShortString(appID) }
        if let clusterID { buffer.writeShortString(clusterID) }
    }
}
