/// Where a persisted message lives: a segment of its queue's store, the byte offset of its
/// record there, and the record's length.
public struct StoreLocation: Hashable, Sendable {
    public var segment: UInt32
    public var offset: UInt32
    public var length: UInt32

    public init(segment: UInt32, offset: UInt32, length: UInt32) {
        self.segment = segment
        self.offset = offset
        self.length = length
    }
}
