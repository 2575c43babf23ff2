import AMQPProtocol
import Foundation

/// Leniencies RabbitMQ's importer has, so that exports of every version decode.
extension KeyedDecodingContainer {
    /// A JSON object of arguments; missing or null means none.
    func decodeArguments(forKey key: Key) throws -> FieldTable {
        guard let members = try decodeIfPresent([String: JSONValue].self, forKey: key) else { return FieldTable() }
        return FieldTable(json: members)
    }

    /// Tags as a JSON array (RabbitMQ 3.10 and later) or one comma-separated string (older exports).
    func decodeTags(forKey key: Key) throws -> [String] {
        if let list = try? decodeIfPresent([String].self, forKey: key) { return list }
        guard let text = try decodeIfPresent(String.self, forKey: key) else { return [] }
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
