import AMQPProtocol
import NIOCore

/// A login taken from connection.start-ok's SASL response.
struct Credentials: Equatable {
    var user: String
    var password: String

    /// Parses PLAIN (`authzid NUL user NUL password`) and AMQPLAIN (a field table without its
    /// length prefix, holding LOGIN and PASSWORD). Nil when the response is malformed.
    init?(mechanism: String, response: [UInt8]) {
        switch mechanism {
        case "PLAIN":
            let parts = response.split(separator: 0, omittingEmptySubsequences: false)
            guard parts.count == 3 else { return nil }
            user = String(decoding: parts[1], as: UTF8.self)
            password = String(decoding: parts[2], as: UTF8.self)
        case "AMQPLAIN":
            var buffer = ByteBuffer()
            buffer.writeInteger(UInt32(response.count))
            buffer.writeBytes(response)
            guard let table = try? buffer.readFieldTable(),
                let login = table["LOGIN"]?.stringValue,
                let password = table["PASSWORD"]?.stringValue
            else { return nil }
            self.user = login
            self.password = password
        default:
            return nil
        }
    }
}
