import ArgumentParser
import Foundation
import WarrenControl

/// Columns may be given as separate words or comma-separated, as rabbitmqctl takes them.
func requestedColumns(_ words: [String]) -> [String] {
    words.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter {
        !$0.isEmpty
    }
}

func validateColumns(_ words: [String], for command: String) throws {
    let known = Set(ListColumns.byCommand[command]?.all ?? [])
    let unknown = requestedColumns(words).filter { !known.contains($0) }
    guard unknown.isEmpty else {
        throw ValidationError(
            "Info key(s) \(unknown.joined(separator: ",")) are not supported; must be one of \(known.sorted().joined(separator: ", "))"
        )
    }
}

/// A list request naming the columns to show: those asked for, or the command's defaults.
func listRequest(_ command: String, columns words: [String], vhost: String? = nil) -> ControlRequest {
    var columns = requestedColumns(words)
    if columns.isEmpty { columns = ListColumns.byCommand[command]?.defaults ?? [] }
    var request = ControlRequest(command: command, options: ["columns": columns.joined(separator: ",")])
    request.options["vhost"] = vhost
    return request
}
