import NIOCore

/// Content-header properties kept as the bytes received (property-flags word or words, then the
/// fields), so that a broker can forward them untouched and read only what it needs.
///
/// The accessors find a field by walking the flags and the lengths before it; they return nil
/// when the property is absent or the bytes are malformed (`validate()` tells which).
/// `deliveryMode`, `priority`, `timestamp`, `flags` and `userIDEquals(_:)` never allocate.
/// Equality compares the bytes, so two encodings of the same properties may differ.
public struct RawProperties: Sendable, Hashable {
    public var bytes: ByteBuffer

    public init(bytes: ByteBuffer) {
        self.bytes = bytes
    }

    /// Encodes `properties`.
    public init(_ properties: BasicProperties) {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        properties.encode(into: &buffer)
        self.bytes = buffer
    }

    /// No properties: a flags word of zero.
    public static let empty = RawProperties(bytes: ByteBuffer(integer: UInt16(0)))

    /// Decodes all properties.
    public func decode() throws(AMQPProtocolError) -> BasicProperties {
        var copy = bytes
        return try BasicProperties.decode(from: &copy)
    }

    /// Checks that every present field lies within the bytes, the headers table's structure
    /// included, without decoding anything. Throws a syntax error (class 60) if not.
    public func validate() throws(AMQPProtocolError) {
        guard let (flags, start) = flagsAndFieldStart() else {
            throw AMQPProtocolError.syntaxError(
                "malformed content header properties: truncated property flags", classID: 60)
        }
        var index = start
        for field in PropertyField.allCases where flags & field.mask != 0 {
            guard let next = end(of: field, at: index, deep: true) else {
                throw AMQPProtocolError.syntaxError(
                    "malformed content header properties: bad \(field.name)", classID: 60)
            }
            index = next
        }
    }

    // MARK: Accessors

    /// The first property-flags word (0 if missing).
    public var flags: UInt16 { bytes.getInteger(at: bytes.readerIndex, as: UInt16.self) ?? 0 }

    public var contentType: String? { shortString(.contentType) }
    public var contentEncoding: String? { shortString(.contentEncoding) }

    public var headers: FieldTable? {
        guard let index = index(of: .headers), let length = bytes.getInteger(at: index, as: UInt32.self),
            var slice = bytes.getSlice(at: index, length: 4 + Int(length))
        else { return nil }
        return try? slice.readFieldTable()
    }

    public var deliveryMode: UInt8? { octet(.deliveryMode) }
    public var priority: UInt8? { octet(.priority) }
    public var correlationID: String? { shortString(.correlationID) }
    public var replyTo: String? { shortString(.replyTo) }
    public var expiration: String? { shortString(.expiration) }
    public var messageID: String? { shortString(.messageID) }

    public var timestamp: UInt64? {
        guard let index = index(of: .timestamp) else { return nil }
        return bytes.getInteger(at: index, as: UInt64.self)
    }

    public var type: String? { shortString(.type) }
    public var userID: String? { shortString(.userID) }
    public var appID: String? { shortString(.appID) }
    public var clusterID: String? { shortString(.clusterID) }

    /// True when the user-id property is present and its bytes equal `string`'s UTF-8 bytes.
    /// Allocates nothing.
    public func userIDEquals(_ string: String) -> Bool { shortString(.userID, equals: string) }

    /// True when the reply-to property is present and equals `string`. Allocates nothing.
    public func replyToEquals(_ string: String) -> Bool { shortString(.replyTo, equals: string) }

    private func shortString(_ field: PropertyField, equals string: String) -> Bool {
        guard let index = index(of: field), let length = bytes.getInteger(at: index, as: UInt8.self),
            index + 1 + Int(length) <= bytes.writerIndex, string.utf8.count == Int(length)
        else { return false }
        let offset = index + 1 - bytes.readerIndex
        return bytes.withUnsafeReadableBytes { raw in
            string.utf8.elementsEqual(UnsafeRawBufferPointer(rebasing: raw[offset..<offset + Int(length)]))
        }
    }

    // MARK: Walking the fields

    private func octet(_ field: PropertyField) -> UInt8? {
        guard let index = index(of: field) else { return nil }
        return bytes.getInteger(at: index, as: UInt8.self)
    }

    private func shortString(_ field: PropertyField) -> String? {
        guard let index = index(of: field), let length = bytes.getInteger(at: index, as: UInt8.self) else {
            return nil
        }
        return bytes.getString(at: index + 1, length: Int(length))
    }

    /// The first flags word and the index of the first field (after any continuation words).
    private func flagsAndFieldStart() -> (UInt16, Int)? {
        var index = bytes.readerIndex
        guard let flags = bytes.getInteger(at: index, as: UInt16.self) else { return nil }
        var word = flags
        index += 2
        while word & PropertyField.continuationBit != 0 {
            guard let next = bytes.getInteger(at: index, as: UInt16.self) else { return nil }
            word = next
            index += 2
        }
        return (flags, index)
    }

    /// The index where `field`'s value starts, or nil if absent or the bytes before it are malformed.
    private func index(of field: PropertyField) -> Int? {
        guard let (flags, start) = flagsAndFieldStart(), flags & field.mask != 0 else { return nil }
        var index = start
        var bit = 15
        while bit > field.rawValue {
            let before = PropertyField(rawValue: bit)!
            if flags & before.mask != 0 {
                guard let next = end(of: before, at: index, deep: false) else { return nil }
                index = next
            }
            bit -= 1
        }
        return index
    }

    /// The index just past `field`'s value at `index`, or nil if it overruns the bytes. With
    /// `deep`, a table's contents are checked too; otherwise only its length is.
    private func end(of field: PropertyField, at index: Int, deep: Bool) -> Int? {
        let limit = bytes.writerIndex
        let end: Int
        switch field.encoding {
        case .octet: end = index + 1
        case .timestamp: end = index + 8
        case .shortString:
            guard let length = bytes.getInteger(at: index, as: UInt8.self) else { return nil }
            end = index + 1 + Int(length)
        case .table:
            if deep { return bytes.endOfValidFieldTable(at: index, limit: limit) }
            guard let length = bytes.getInteger(at: index, as: UInt32.self) else { return nil }
            end = index + 4 + Int(length)
        }
        return end <= limit ? end : nil
    }
}
