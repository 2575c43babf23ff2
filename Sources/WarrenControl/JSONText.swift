import WarrenCore

/// Compact JSON text with object keys in the order given: rabbitmqctl's JSON rows list columns in
/// the order asked for, which an encoder of dictionaries cannot promise.
enum JSONText {
    static func render(_ value: JSONValue) -> String {
        var text = ""
        write(value, into: &text)
        return text
    }

    /// `{"a":1,"b":2}` with the members in the order given.
    static func object(_ members: [(key: String, value: JSONValue)]) -> String {
        var text = "{"
        for (index, member) in members.enumerated() {
            if index > 0 { text += "," }
            writeString(member.key, into: &text)
            text += ":"
            write(member.value, into: &text)
        }
        return text + "}"
    }

    private static func write(_ value: JSONValue, into text: inout String) {
        switch value {
        case .null: text += "null"
        case .bool(let b): text += b ? "true" : "false"
        case .int(let i): text += String(i)
        case .double(let d): text += d.isFinite ? "\(d)" : "null"
        case .string(let s): writeString(s, into: &text)
        case .array(let values):
            text += "["
            for (index, element) in values.enumerated() {
                if index > 0 { text += "," }
                write(element, into: &text)
            }
            text += "]"
        case .object(let members):
            text += object(members.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) })
        }
    }

    static func writeString(_ string: String, into text: inout String) {
        text += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case "\u{08}": text += "\\b"
            case "\u{0C}": text += "\\f"
            case let s where s.value < 0x20:
                let hex = String(s.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}
