import AMQPProtocol

/// Routes by message headers against each binding's arguments, with `x-match` set to `all`
/// (the default), `any`, `all-with-x` or `any-with-x` as RabbitMQ defines them.
final class HeadersExchange: Exchange, @unchecked Sendable {
    enum MatchKind: String {
        case all, any
        case allWithX = "all-with-x"
        case anyWithX = "any-with-x"
    }

    override func route(routingKey: String, message: Message, into destinations: inout [Destination]) {
        let headers = message.properties.headers ?? FieldTable()
        for binding in bindings where Self.matches(binding: binding.arguments, headers: headers) {
            destinations.append(binding.destination)
        }
    }

    static func matchKind(_ arguments: FieldTable) -> MatchKind? {
        guard let value = arguments["x-match"] else { return .all }
        return value.stringValue.flatMap(MatchKind.init(rawValue:))
    }

    static func matches(binding arguments: FieldTable, headers: FieldTable) -> Bool {
        let kind = matchKind(arguments) ?? .all
        let includeX = kind == .allWithX || kind == .anyWithX
        let wantAll = kind == .all || kind == .allWithX
        var sawAny = false
        for (key, pattern) in arguments.entries where key != "x-match" {
            if !includeX && key.hasPrefix("x-") { continue }
            let matched: Bool
            if let value = headers[key] {
                // A void pattern value asks only that the header be present.
                matched = pattern == .void || equivalent(pattern, value)
            } else {
                matched = false
            }
            if matched {
                sawAny = true
                if !wantAll { return true }
            } else if wantAll {
                return false
            }
        }
        return wantAll ? true : sawAny
    }

    /// Values compare as RabbitMQ (Erlang) compares them: numbers by value whatever their
    /// width or kind (integers, floats, timestamps), byte strings by their bytes.
    static func equivalent(_ a: FieldValue, _ b: FieldValue) -> Bool {
        if let x = numericValue(a), let y = numericValue(b) { return x == y }
        if let x = bytesValue(a), let y = bytesValue(b) { return x == y }
        return a == b
    }

    private static func numericValue(_ v: FieldValue) -> Double? {
        switch v {
        case .float(let f): return Double(f)
        case .double(let d): return d
        case .timestamp(let t): return Double(t)
        default: return v.integerValue.map(Double.init)
        }
    }

    private static func bytesValue(_ v: FieldValue) -> [UInt8]? {
        switch v {
        case .longString(let b), .byteArray(let b): return b
        default: return nil
        }
    }
}
