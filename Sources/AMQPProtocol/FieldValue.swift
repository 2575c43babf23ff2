/// A value in an AMQP field table or field array, with RabbitMQ's type tags.
///
/// Text is carried as bytes (`longString`) because AMQP long strings need not be UTF-8; use
/// `FieldValue.string(_:)` and `stringValue` for text.
public enum FieldValue: Sendable, Hashable {
    case boolean(Bool)  // 't'
    case int8(Int8)  // 'b'
    case uint8(UInt8)  // 'B'
    case int16(Int16)  // 's'
    case uint16(UInt16)  // 'u'
    case int32(Int32)  // 'I'
    case uint32(UInt32)  // 'i'
    case int64(Int64)  // 'l'
    case uint64(UInt64)  // 'L'
    case float(Float)  // 'f'
    case double(Double)  // 'd'
    case decimal(scale: UInt8, value: UInt32)  // 'D'
    case longString([UInt8])  // 'S'
    case array([FieldValue])  // 'A'
    case timestamp(UInt64)  // 'T'
    case table(FieldTable)  // 'F'
    case void  // 'V'
    case byteArray([UInt8])  // 'x'

    public static func string(_ s: String) -> FieldValue { .longString(Array(s.utf8)) }

    /// The text of a long string, or nil for any other type.
    public var stringValue: String? {
        if case .longString(let bytes) = self { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }

    /// The value of any integer type as Int64, or nil.
    public var integerValue: Int64? {
        switch self {
        case .int8(let v): return Int64(v)
        case .uint8(let v): return Int64(v)
        case .int16(let v): return Int64(v)
        case .uint16(let v): return Int64(v)
        case .int32(let v): return Int64(v)
        case .uint32(let v): return Int64(v)
        case .int64(let v): return v
        case .uint64(let v): return v <= UInt64(Int64.max) ? Int64(v) : nil
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .boolean(let b) = self { return b }
        return nil
    }
}

/// An AMQP field table: ordered entries (order and duplicates kept so that a decoded table
/// re-encodes to the same bytes).
public struct FieldTable: Sendable, Hashable, ExpressibleByDictionaryLiteral {
    public var entries: [(key: String, value: FieldValue)]

    public init() { entries = [] }
    public init(_ entries: [(key: String, value: FieldValue)]) { self.entries = entries }
    public init(dictionaryLiteral elements: (String, FieldValue)...) {
        entries = elements.map { (key: $0.0, value: $0.1) }
    }

    public var isEmpty: Bool { entries.isEmpty }
    public var count: Int { entries.count }

    /// The first value stored under `key`; setting replaces it or appends a new entry.
    public subscript(key: String) -> FieldValue? {
        get { entries.first(where: { $0.key == key })?.value }
        set {
            if let i = entries.firstIndex(where: { $0.key == key }) {
                if let newValue { entries[i].value = newValue } else { entries.remove(at: i) }
            } else if let newValue {
                entries.append((key: key, value: newValue))
            }
        }
    }

    public static func == (a: FieldTable, b: FieldTable) -> Bool {
        a.entries.count == b.entries.count
            && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(entries.count)
        for e in entries {
            hasher.combine(e.key)
            hasher.combine(e.value)
        }
    }
}
