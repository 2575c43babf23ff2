import AMQPProtocol
import Foundation
import NIOCore
import Testing

/// A small deterministic generator (SplitMix64) so that randomized tests repeat exactly.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Array where Element == UInt8 {
    init(hex: String) {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        self = bytes
    }

    var hex: String { map { String(format: "%02x", $0) }.joined() }
}

extension ByteBuffer {
    init(hex: String) { self.init(bytes: [UInt8](hex: hex)) }

    var readableBytesArray: [UInt8] { getBytes(at: readerIndex, length: readableBytes) ?? [] }
}

/// Runs `body` and returns the protocol error it threw, or nil if it returned.
func capturedError<T>(_ body: () throws -> T) -> AMQPProtocolError? {
    do {
        _ = try body()
        return nil
    } catch let error as AMQPProtocolError {
        return error
    } catch {
        Issue.record("unexpected error type: \(error)")
        return nil
    }
}

/// Encodes with a `ByteBuffer` writer and returns the bytes.
func encoded(_ write: (inout ByteBuffer) -> Void) -> [UInt8] {
    var buffer = ByteBuffer()
    write(&buffer)
    return buffer.readableBytesArray
}

// MARK: Comparing field values

/// Structural equality in which floats and doubles compare by bit pattern (so NaN equals itself).
func identical(_ a: FieldValue, _ b: FieldValue) -> Bool {
    switch (a, b) {
    case (.float(let x), .float(let y)): return x.bitPattern == y.bitPattern
    case (.double(let x), .double(let y)): return x.bitPattern == y.bitPattern
    case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { identical($0, $1) }
    case (.table(let x), .table(let y)): return identical(x, y)
    default: return a == b
    }
}

func identical(_ a: FieldTable, _ b: FieldTable) -> Bool {
    a.count == b.count && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && identical($0.value, $1.value) }
}

// MARK: Random values

enum RandomValues {
    static let characters: [Character] = Array("abcxyz-_.:/ 019éü€中😀")

    static func string(_ rng: inout SeededGenerator, maxLength: Int = 12) -> String {
        String((0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in characters.randomElement(using: &rng)! })
    }

    static func bytes(_ rng: inout SeededGenerator, maxLength: Int = 12) -> [UInt8] {
        (0..<Int.random(in: 0...maxLength, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    static func fieldValue(_ rng: inout SeededGenerator, depth: Int = 0, allowNaN: Bool = true) -> FieldValue {
        let kinds = depth < 3 ? 18 : 16
        switch Int.random(in: 0..<kinds, using: &rng) {
        case 0: return .boolean(.random(using: &rng))
        case 1: return .int8(.random(in: .min ... .max, using: &rng))
        case 2: return .uint8(.random(in: .min ... .max, using: &rng))
        case 3: return .int16(.random(in: .min ... .max, using: &rng))
        case 4: return .uint16(.random(in: .min ... .max, using: &rng))
        case 5: return .int32(.random(in: .min ... .max, using: &rng))
        case 6: return .uint32(.random(in: .min ... .max, using: &rng))
        case 7: return .int64(.random(in: .min ... .max, using: &rng))
        case 8: return .uint64(.random(in: .min ... .max, using: &rng))
        case 9:
            let f = Float(bitPattern: .random(in: .min ... .max, using: &rng))
            return .float(allowNaN || !f.isNaN ? f : 1.5)
        case 10:
            let d = Double(bitPattern: .random(in: .min ... .max, using: &rng))
            return .double(allowNaN || !d.isNaN ? d : -2.25)
        case 11:
            return .decimal(
                scale: .random(in: .min ... .max, using: &rng), value: .random(in: .min ... .max, using: &rng))
        case 12: return .longString(bytes(&rng))
        case 13: return .timestamp(.random(in: .min ... .max, using: &rng))
        case 14: return .void
        case 15: return .byteArray(bytes(&rng))
        case 16:
            return .array(
                (0..<Int.random(in: 0...4, using: &rng)).map { _ in
                    fieldValue(&rng, depth: depth + 1, allowNaN: allowNaN)
                })
        default: return .table(fieldTable(&rng, depth: depth + 1, allowNaN: allowNaN))
        }
    }

    static func fieldTable(_ rng: inout SeededGenerator, depth: Int = 0, allowNaN: Bool = true) -> FieldTable {
        FieldTable(
            (0..<Int.random(in: 0...5, using: &rng)).map { _ in
                (key: string(&rng), value: fieldValue(&rng, depth: depth, allowNaN: allowNaN))
            })
    }

    static func properties(_ rng: inout SeededGenerator) -> BasicProperties {
        func maybe<T>(_ rng: inout SeededGenerator, _ make: (inout SeededGenerator) -> T) -> T? {
            Bool.random(using: &rng) ? make(&rng) : nil
        }
        return BasicProperties(
            contentType: maybe(&rng) { string(&$0) },
            contentEncoding: maybe(&rng) { string(&$0) },
            headers: maybe(&rng) { fieldTable(&$0, allowNaN: false) },
            deliveryMode: maybe(&rng) { UInt8.random(in: 0...255, using: &$0) },
            priority: maybe(&rng) { UInt8.random(in: 0...255, using: &$0) },
            correlationID: maybe(&rng) { string(&$0) },
            replyTo: maybe(&rng) { string(&$0) },
            expiration: maybe(&rng) { string(&$0) },
            messageID: maybe(&rng) { string(&$0) },
            timestamp: maybe(&rng) { UInt64.random(in: .min ... .max, using: &$0) },
            type: maybe(&rng) { string(&$0) },
            userID: maybe(&rng) { string(&$0) },
            appID: maybe(&rng) { string(&$0) },
            clusterID: maybe(&rng) { string(&$0) })
    }
}

// MARK: Fixtures

enum Fixtures {
    static func load<T: Decodable>(_ name: String, as type: T.Type) throws -> T {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name)
        return try JSONDecoder().decode(T.self, from: Data(contentsOf: url))
    }
}

struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A field value described in the fixtures as a one-key object: {"int32": 5}, {"table": [...]}.
struct DescribedFieldValue: Decodable {
    var value: FieldValue

    init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: AnyCodingKey.self)
        guard container.allKeys.count == 1, let key = container.allKeys.first else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "one key expected"))
        }
        func string() throws -> String { try container.decode(String.self, forKey: key) }
        switch key.stringValue {
        case "boolean": value = .boolean(try container.decode(Bool.self, forKey: key))
        case "int32": value = .int32(try container.decode(Int32.self, forKey: key))
        case "int64": value = .int64(Int64(try string())!)
        case "uint64": value = .uint64(UInt64(try string())!)
        case "double": value = .double(Double(bitPattern: UInt64(try string(), radix: 16)!))
        case "decimal":
            let parts = try container.decode([UInt32].self, forKey: key)
            value = .decimal(scale: UInt8(parts[0]), value: parts[1])
        case "longString": value = .longString([UInt8](hex: try string()))
        case "byteArray": value = .byteArray([UInt8](hex: try string()))
        case "timestamp": value = .timestamp(UInt64(try string())!)
        case "void": value = .void
        case "table": value = .table(try container.decode(DescribedFieldTable.self, forKey: key).table)
        case "array": value = .array(try container.decode([DescribedFieldValue].self, forKey: key).map(\.value))
        default:
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "type \(key)"))
        }
    }
}

/// A field table described as [[key, value], ...].
struct DescribedFieldTable: Decodable {
    var table: FieldTable

    init(from decoder: Decoder) throws {
        var list = try decoder.unkeyedContainer()
        var entries: [(key: String, value: FieldValue)] = []
        while !list.isAtEnd {
            var pair = try list.nestedUnkeyedContainer()
            let key = try pair.decode(String.self)
            let value = try pair.decode(DescribedFieldValue.self).value
            entries.append((key: key, value: value))
        }
        table = FieldTable(entries)
    }
}
