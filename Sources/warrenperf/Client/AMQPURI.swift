/// Where and as whom to connect: `amqp://user:password@host:port/vhost`, as RabbitMQ's clients
/// read it (the vhost is percent-encoded, so `/%2F` is the vhost `/`; an empty path is `/` too).
struct AMQPURI: Sendable, Equatable, CustomStringConvertible {
    var host = "127.0.0.1"
    var port = 5672
    var user = "guest"
    var password = "guest"
    var virtualHost = "/"

    init(
        host: String = "127.0.0.1", port: Int = 5672, user: String = "guest", password: String = "guest",
        virtualHost: String = "/"
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.virtualHost = virtualHost
    }

    init?(_ text: String) {
        guard text.hasPrefix("amqp://") else { return nil }
        var rest = Substring(text.dropFirst("amqp://".count))
        var path: Substring?
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                guard let user = Self.percentDecoded(credentials[..<colon]),
                    let password = Self.percentDecoded(credentials[credentials.index(after: colon)...])
                else { return nil }
                self.user = user
                self.password = password
            } else {
                guard let user = Self.percentDecoded(credentials) else { return nil }
                self.user = user
            }
        }
        if rest.hasPrefix("[") {  // [IPv6]:port
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            rest = rest[rest.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let port = Int(rest.dropFirst()) else { return nil }
                self.port = port
            } else if !rest.isEmpty {
                return nil
            }
        } else if let colon = rest.lastIndex(of: ":") {
            guard let port = Int(rest[rest.index(after: colon)...]) else { return nil }
            self.port = port
            host = String(rest[..<colon])
        } else if !rest.isEmpty {
            host = String(rest)
        }
        if host.isEmpty { host = "127.0.0.1" }
        if let path, !path.isEmpty {
            guard let vhost = Self.percentDecoded(path) else { return nil }
            virtualHost = vhost
        }
    }

    var description: String { "amqp://\(user)@\(host):\(port)/\(virtualHost == "/" ? "%2F" : virtualHost)" }

    private static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                return nil
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
