import WarrenCore

/// The result of a list command: the columns asked for, and one row of values per item.
public struct ControlTable: Sendable, Hashable, Codable {
    public var columns: [String]
    public var rows: [[JSONValue]]

    public init(columns: [String], rows: [[JSONValue]]) {
        self.columns = columns
        self.rows = rows
    }

    /// Projects records holding every column a command knows onto the columns asked for; a
    /// column a record lacks is null.
    public init(columns: [String], records: [[String: JSONValue]]) {
        self.init(columns: columns, rows: records.map { record in columns.map { record[$0] ?? .null } })
    }
}
