#if canImport(Glibc)
    import Glibc
#endif

/// The name under which the broker reports itself where RabbitMQ names its node (alarms,
/// rabbitmqctl's informational lines): `warren@` and the short host name, as RabbitMQ's
/// default `rabbit@host`.
public enum NodeName {
    public static let local: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "warren@localhost" }
        let host = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let short = host.split(separator: ".").first.map(String.init) ?? ""
        return "warren@" + (short.isEmpty ? "localhost" : short)
    }()
}
