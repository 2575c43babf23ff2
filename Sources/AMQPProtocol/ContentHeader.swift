import NIOCore

/// A content header frame's payload: the content's class (60, basic), a weight that is always
/// 0, the total body size and the properties as received.
public struct ContentHeader: Sendable, Equatable {
    public var classID: UInt16
    public var weight: UInt16
    public var bodySize: UInt64
    public var properties: RawProperties

    public init(classID: UInt16 = 60, weight: UInt16 = 0, bodySize: UInt64, properties: RawProperties = .empty) {
        self.classID = classID
        self.weight = weight
        self.bodySize = bodySize
        self.properties = properties
    }

    /// Bytes before the properties: class id, weight and body size.
    static let fixedSize = 12

    /// Decodes a header frame payload. The properties are a slice of `payload`; their structure
    /// is validated (syntax error 502) but nothing is decoded. A payload too short for the fixed
    /// fields and a flags word is a frame error (501). A class other than basic is returned
    /// unvalidated: whether it was expected is the connection's decision (505 in RabbitMQ).
    static func decode(payload: ByteBuffer) throws(AMQPProtocolError) -> ContentHeader {
        var payload = payload
        guard payload.readableBytes >= fixedSize + 2,
            let classID = payload.readInteger(as: UInt16.self),
            let weight = payload.readInteger(as: UInt16.self),
            let bodySize = payload.readInteger(as: UInt64.self)
        else {
            throw AMQPProtocolError.frameError("content header frame too short (\(payload.readableBytes) bytes)")
        }
        let properties = RawProperties(bytes: payload)
        if classID == 60 { try properties.validate() }
        return ContentHeader(classID: classID, weight: weight, bodySize: bodySize, properties: properties)
    }
}
