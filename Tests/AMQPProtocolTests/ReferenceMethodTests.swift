import AMQPProtocol
import NIOCore
import Testing

/// Methods and content properties encoded by pika's generated codec
/// (scripts/gen-method-fixtures.py), compared field by field by name.
@Suite("Methods and properties against a reference encoder")
struct ReferenceMethodTests {
    enum Described: Decodable {
        case bit(Bool)
        case octet(UInt8)
        case short(UInt16)
        case long(UInt32)
        case longlong(UInt64)
        case shortString(String)
        case longString([UInt8])
        case table(FieldTable)

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: AnyCodingKey.self)
            let key = c.allKeys.first!
            switch key.stringValue {
            case "bit": self = .bit(try c.decode(Bool.self, forKey: key))
            case "octet": self = .octet(try c.decode(UInt8.self, forKey: key))
            case "short": self = .short(try c.decode(UInt16.self, forKey: key))
            case "long": self = .long(try c.decode(UInt32.self, forKey: key))
            case "longlong": self = .longlong(UInt64(try c.decode(String.self, forKey: key))!)
            case "shortString": self = .shortString(try c.decode(String.self, forKey: key))
            case "longString": self = .longString([UInt8](hex: try c.decode(String.self, forKey: key)))
            case "table": self = .table(try c.decode(DescribedFieldTable.self, forKey: key).table)
            default:
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: c, debugDescription: "unknown type \(key.stringValue)")
            }
        }

        func matches(_ value: Any) -> Bool {
            switch self {
            case .bit(let x): return value as? Bool == x
            case .octet(let x): return value as? UInt8 == x
            case .short(let x): return value as? UInt16 == x
            case .long(let x): return value as? UInt32 == x
            case .longlong(let x): return value as? UInt64 == x
            case .shortString(let x): return value as? String == x
            case .longString(let x): return value as? [UInt8] == x
            case .table(let x): return (value as? FieldTable).map { identical($0, x) } ?? false
            }
        }
    }

    struct Fixture: Decodable {
        struct MethodCase: Decodable {
            var name: String
            var classID: UInt16
            var methodID: UInt16
            var hex: String
            var reencodedHex: String
            var fields: [String: Described]
        }
        struct PropertiesCase: Decodable {
            var hex: String
            var fields: [String: Described]
        }
        var methods: [MethodCase]
        var properties: [PropertiesCase]
    }

    /// The stored properties of a method struct or BasicProperties, by name (optionals unwrapped;
    /// absent optionals left out).
    static func fields(of value: Any) -> [String: Any] {
        var result: [String: Any] = [:]
        for child in Mirror(reflecting: value).children {
            guard let label = child.label else { continue }
            let mirror = Mirror(reflecting: child.value)
            if mirror.displayStyle == .optional {
                if let wrapped = mirror.children.first { result[label] = wrapped.value }
            } else {
                result[label] = child.value
            }
        }
        return result
    }

    /// The struct inside an AMQPMethod case.
    static func payload(of method: AMQPMethod) -> Any {
        Mirror(reflecting: method).children.first!.value
    }

    @Test("every method encoded by pika decodes to its fields and re-encodes to pika's bytes")
    func referenceMethods() throws {
        let fixture = try Fixtures.load("reference-methods.json", as: Fixture.self)
        #expect(Set(fixture.methods.map(\.name)).count == 64)
        for reference in fixture.methods {
            var arguments = ByteBuffer(hex: reference.hex)
            let method = try AMQPMethod.decode(
                classID: reference.classID, methodID: reference.methodID, arguments: &arguments)
            #expect(arguments.readableBytes == 0, "\(reference.name)")
            let actual = Self.fields(of: Self.payload(of: method))
            #expect(Set(actual.keys) == Set(reference.fields.keys), "\(reference.name)")
            for (name, expected) in reference.fields {
                #expect(actual[name].map(expected.matches) == true, "\(reference.name).\(name)")
            }
            #expect(encoded { method.encodeArguments(into: &$0) }.hex == reference.reencodedHex, "\(reference.name)")
        }
    }

    @Test("content properties encoded by pika decode, read raw and re-encode identically")
    func referenceProperties() throws {
        let fixture = try Fixtures.load("reference-methods.json", as: Fixture.self)
        #expect(fixture.properties.count >= 100)
        for (index, reference) in fixture.properties.enumerated() {
            var buffer = ByteBuffer(hex: reference.hex)
            let properties = try BasicProperties.decode(from: &buffer)
            #expect(buffer.readableBytes == 0)
            let actual = Self.fields(of: properties)
            #expect(Set(actual.keys) == Set(reference.fields.keys), "case \(index)")
            for (name, expected) in reference.fields {
                #expect(actual[name].map(expected.matches) == true, "case \(index): \(name)")
            }
            #expect(encoded { properties.encode(into: &$0) }.hex == reference.hex, "case \(index)")
            let raw = RawProperties(bytes: ByteBuffer(hex: reference.hex))
            try raw.validate()
            #expect(try raw.decode() == properties)
            #expect(raw.deliveryMode == properties.deliveryMode)
            #expect(raw.userID == properties.userID)
        }
    }
}
