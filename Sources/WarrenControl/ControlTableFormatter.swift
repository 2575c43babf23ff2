import WarrenCore

/// Prints list results the way rabbitmqctl 3.10 does: tab-separated with a header row, or with
/// `--formatter json` a JSON array with one object per line:
///
///     [
///     {"user":"bob","tags":[]}
///     ,{"user":"guest","tags":["administrator"]}
///     ]
public enum ControlTableFormatter {
    public static func tabSeparated(_ table: ControlTable, headers: Bool) -> String {
        var lines: [String] = []
        // rabbitmqctl prints no header row for an empty list.
        if headers && !table.rows.isEmpty { lines.append(table.columns.joined(separator: "\t")) }
        for row in table.rows {
            lines.append(row.map(cell).joined(separator: "\t"))
        }
        return lines.map { $0 + "\n" }.joined()
    }

    public static func json(_ table: ControlTable) -> String {
        var text = "[\n"
        for (index, row) in table.rows.enumerated() {
            if index > 0 { text += "," }
            text += JSONText.object(zip(table.columns, row).map { (key: $0, value: $1) }) + "\n"
        }
        return text + "]\n"
    }

    /// One value in a tab-separated row: tags as `[a, b]`, arguments as `[{"x-max-length",10}]`.
    public static func cell(_ value: JSONValue) -> String {
        switch value {
        case .null: return ""
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d): return "\(d)"
        case .string(let s): return s
        case .array(let elements):
            if !elements.isEmpty, elements.allSatisfy(isArgumentTriple) {
                let pairs = elements.map { element -> String in
                    guard case .array(let triple) = element, case .string(let name) = triple[0] else { return "" }
                    var text = "{"
                    JSONText.writeString(name, into: &text)
                    return text + "," + term(triple[2]) + "}"
                }
                return "[" + pairs.joined(separator: ",") + "]"
            }
            return "[" + elements.map(cell).joined(separator: ", ") + "]"
        case .object:
            return JSONText.render(value)
        }
    }

    private static func isArgumentTriple(_ value: JSONValue) -> Bool {
        guard case .array(let triple) = value, triple.count == 3, case .string = triple[0], case .string = triple[1]
        else { return false }
        return true
    }

    /// A value inside an argument list: strings quoted, as Erlang prints binaries.
    private static func term(_ value: JSONValue) -> String {
        switch value {
        case .array(let elements): return "[" + elements.map(term).joined(separator: ",") + "]"
        default: return JSONText.render(value)
        }
    }
}
