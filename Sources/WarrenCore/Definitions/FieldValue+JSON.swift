import AMQPProtocol

/// Arguments travel as AMQP field tables inside the broker and as JSON objects in definitions.
/// JSON numbers become `int64` when whole and `double` otherwise, strings `longString`, null
/// `void`, objects tables. Going back, every integer type becomes a JSON integer and binary data
/// its UTF-8 text, as RabbitMQ's export renders them.
extension FieldValue {
    public init(json: JSONValue) {
        switch json {
        case .null: self = .void
        case .bool(let value): self = .boolean(value)
        case .int(let value): self = .int64(value)
        case .double(let value): self = .double(value)
        case .string(let value): self = .string(value)
        case .array(let values): self = .array(values.map(FieldValue.init(json:)))
        case .object(let members): self = .table(FieldTable(json: members))
        }
    }
}

extension FieldTable {
    /// Entries in key order, so the same JSON always gives the same table.
    public init(json members: [String: JSONValue]) {
        self.init(members.sorted { $0.key < $1.key }.map { (key: $0.key, value: FieldValue(json: $0.value)) })
    }
}

extension JSONValue {
    public init(_ value: FieldValue) {
        switch value {
        case .boolean(let v): self = .bool(v)
        case .int8(let v): self = .int(Int64(v))
        case .uint8(let v): self = .int(Int64(v))
        case .int16(let v): self = .int(Int64(v))
        case .uint16(let v): self = .int(Int64(v))
        case .int32(let v): self = .int(Int64(v))
        case .uint32(let v): self = .int(Int64(v))
        case .int64(let v): self = .int(v)
        case .uint64(let v): self = v <= UInt64(Int64.max) ? .int(Int64(v)) : .double(Double(v))
        case .timestamp(let v): self = v <= UInt64(Int64.max) ? .int(Int64(v)) : .double(Double(v))
        case .float(let v): self = .double(Double(v))
        case .double(let v): self = .double(v)
        case .decimal(let scale, let v):
            var divisor = 1.0
            for _ in 0..<scale { divisor *= 10 }
            self = .double(Double(v) / divisor)
        case .longString(let bytes), .byteArray(let bytes): self = .string(String(decoding: bytes, as: UTF8.self))
        case .array(let values): self = .array(values.map(JSONValue.init))
        case .table(let table): self = JSONValue(table)
        case .void: self = .null
        }
    }

    /// A table as a JSON object; of duplicate keys the first wins, as `FieldTable`'s subscript reads.
    public init(_ table: FieldTable) {
        var members: [String: JSONValue] = [:]
        for entry in table.entries where members[entry.key] == nil {
            members[entry.key] = JSONValue(entry.value)
        }
        self = .object(members)
    }
}
