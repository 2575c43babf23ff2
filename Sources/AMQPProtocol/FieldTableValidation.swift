import NIOCore

/// Structural checks of encoded field tables that decode nothing and allocate nothing: every
/// key, type octet and length is checked to lie within bounds, nesting included.
extension ByteBuffer {
    /// The index just past the valid field table starting at `index`, or nil if it is malformed
    /// or does not end by `limit`.
    func endOfValidFieldTable(at index: Int, limit: Int, depth: Int = 0) -> Int? {
        guard depth <= Self.maxFieldNestingDepth, let length = getInteger(at: index, as: UInt32.self) else {
            return nil
        }
        let end = index + 4 + Int(length)
        guard end <= limit else { return nil }
        var i = index + 4
        while i < end {
            guard let keyLength = getInteger(at: i, as: UInt8.self) else { return nil }
            i += 1 + Int(keyLength)
            guard i < end, let next = endOfValidFieldValue(at: i, limit: end, depth: depth) else { return nil }
            i = next
        }
        return i == end ? end : nil
    }

    /// The index just past the valid field array starting at `index`, or nil.
    func endOfValidFieldArray(at index: Int, limit: Int, depth: Int = 0) -> Int? {
        guard depth <= Self.maxFieldNestingDepth, let length = getInteger(at: index, as: UInt32.self) else {
            return nil
        }
        let end = index + 4 + Int(length)
        guard end <= limit else { return nil }
        var i = index + 4
        while i < end {
            guard let next = endOfValidFieldValue(at: i, limit: end, depth: depth) else { return nil }
            i = next
        }
        return i == end ? end : nil
    }

    /// The index just past the valid field value (type octet and payload) at `index`, or nil.
    func endOfValidFieldValue(at index: Int, limit: Int, depth: Int) -> Int? {
        guard index < limit, let tag = getInteger(at: index, as: UInt8.self) else { return nil }
        let payload = index + 1
        let end: Int
        switch tag {
        case FieldTypeTag.void: end = payload
        case FieldTypeTag.boolean, FieldTypeTag.int8, FieldTypeTag.uint8: end = payload + 1
        case FieldTypeTag.int16, FieldTypeTag.uint16: end = payload + 2
        case FieldTypeTag.int32, FieldTypeTag.uint32, FieldTypeTag.float: end = payload + 4
        case FieldTypeTag.decimal: end = payload + 5
        case FieldTypeTag.int64, FieldTypeTag.uint64, FieldTypeTag.double, FieldTypeTag.timestamp: end = payload + 8
        case FieldTypeTag.longString, FieldTypeTag.byteArray:
            guard let length = getInteger(at: payload, as: UInt32.self) else { return nil }
            end = payload + 4 + Int(length)
        case FieldTypeTag.table: return endOfValidFieldTable(at: payload, limit: limit, depth: depth + 1)
        case FieldTypeTag.array: return endOfValidFieldArray(at: payload, limit: limit, depth: depth + 1)
        default: return nil
        }
        return end <= limit ? end : nil
    }
}
