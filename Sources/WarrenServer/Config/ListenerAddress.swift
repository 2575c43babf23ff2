/// Where an AMQP listener binds: `listeners.tcp.default = 5672`, `= 127.0.0.1:5672` or
/// `= [::1]:5672` (RabbitMQ also reads a bare IPv6 address before the last colon: `::1:5672`).
public struct ListenerAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address to bind; nil for every interface.
    public var host: String?
    public var port: Int

    public init(host: String? = nil, port: Int) {
        self.host = host
        self.port = port
    }

    /// Nil when the text is not a port, `host:port` or `[ipv6]:port`, or the port is not 1...65535.
    public init?(parsing text: String) {
        if let port = Self.port(text) {
            self.init(host: nil, port: port)
            return
        }
        guard let colon = text.lastIndex(of: ":"), let port = Self.port(text[text.index(after: colon)...]) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        } else if host.contains("[") || host.contains("]") {
            return nil
        }
        guard !host.isEmpty, !host.contains(where: \.isWhitespace) else { return nil }
        self.init(host: host, port: port)
    }

    private static func port(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.allSatisfy(\.isASCII), let port = Int(text), (1...65535).contains(port) else {
            return nil
        }
        return port
    }

    private static func port(_ text: String) -> Int? { port(Substring(text)) }

    public var description: String {
        guard let host else { return "\(port)" }
        return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
