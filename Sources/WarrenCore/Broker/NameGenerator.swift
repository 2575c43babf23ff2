/// Server-generated names: `amq.gen-…` queues and `amq.ctag-…` consumer tags, as RabbitMQ
/// makes them (a prefix and 22 URL-safe base64 characters of randomness).
public enum NameGenerator {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func random(prefix: String, length: Int = 22) -> String {
        var g = SystemRandomNumberGenerator()
        var bytes = Array(prefix.utf8)
        bytes.reserveCapacity(bytes.count + length)
        for _ in 0..<length { bytes.append(alphabet[Int(g.next() % 64)]) }
        return String(decoding: bytes, as: UTF8.self)
    }

    public static func queueName() -> String { random(prefix: "amq.gen-") }
    public static func consumerTag() -> String { random(prefix: "amq.ctag-") }
}
