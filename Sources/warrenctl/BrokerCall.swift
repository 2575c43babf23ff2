import ArgumentParser
import Foundation
import WarrenControl
import WarrenCore

/// One request to the broker and the printing of its answer, as rabbitmqctl prints: an
/// informational line first (unless -q), the result on stdout, errors on stderr as
/// `Error:\n<message>` with rabbitmqctl's exit status.
struct BrokerCall {
    var options: ControlOptions

    /// Sends `request`; returns the successful response, or exits with its error.
    @discardableResult
    func send(_ request: ControlRequest, inform message: String? = nil) async throws -> ControlResponse {
        if let message, options.informs { print(message) }
        let client = ControlClient(dataDirectory: options.dataDir)
        let response: ControlResponse
        do {
            response = try await client.send(request, timeout: .nanoseconds(Int64(options.timeout * 1e9)))
        } catch {
            if case .timedOut = error {
                throw fail("Error: \(error)", status: .timeout)
            }
            throw fail("Error: \(error)", status: .unavailable)
        }
        guard response.ok else {
            throw fail(
                "Error:\n\(response.error ?? "the broker refused")",
                status: ControlExitStatus(rawValue: response.exitStatus ?? 70) ?? .software)
        }
        return response
    }

    /// Sends `request` and prints its result: a table, a document or text.
    func run(_ request: ControlRequest, inform message: String? = nil) async throws {
        let response = try await send(request, inform: message)
        if let table = response.table {
            switch options.formatter {
            case .json: write(ControlTableFormatter.json(table))
            case .table:
                var text = ControlTableFormatter.tabSeparated(
                    table, headers: !options.silent && !options.noTableHeaders)
                // rabbitmqctl's quirk: an empty permission listing is one empty line.
                if table.rows.isEmpty && request.command.hasSuffix("permissions") && !options.silent { text = "\n" }
                write(text)
            }
        } else if let document = response.document {
            write(try Self.json(document) + "\n")
        } else if let text = response.text {
            print(text)
        }
    }

    /// Through `print`, so that it stays in order with the informational lines.
    func write(_ text: String) {
        print(text, terminator: "")
    }

    static func json(_ value: JSONValue) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

/// Prints `message` to stderr and gives the exit code to throw.
func fail(_ message: String, status: ControlExitStatus) -> ExitCode {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    return ExitCode(status.rawValue)
}

/// A password from the command line, or else the first line of standard input, as rabbitmqctl reads it.
func passwordArgument(_ given: String?) throws -> String {
    if let given { return given }
    if isatty(STDIN_FILENO) != 0 { print("Password: ", terminator: "") }
    guard let line = readLine(strippingNewline: true), !line.isEmpty else {
        throw fail("Error:\nPassword is not provided via argument or stdin", status: .dataError)
    }
    return line
}
