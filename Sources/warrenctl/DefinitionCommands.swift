import ArgumentParser
import Foundation
import WarrenControl
import WarrenCore

struct ExportDefinitions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export_definitions", abstract: "Exports definitions in JSON")
    @OptionGroup var options: ControlOptions
    @Argument(help: "File to write, or - for standard output") var filePath: String

    func run() async throws {
        let toStdout = filePath == "-"
        let call = BrokerCall(options: options)
        let response = try await call.send(
            ControlRequest(command: "export_definitions"),
            inform: toStdout ? nil : "Exporting definitions in JSON to a file at \"\(filePath)\" ...")
        let json = try BrokerCall.json(response.document ?? .object([:]))
        if toStdout {
            call.write(json)
            return
        }
        do {
            try Data(json.utf8).write(to: URL(fileURLWithPath: filePath))
        } catch {
            throw fail(
                "Error:\nNo permissions to write to file \(filePath) or its parent directory", status: .dataError)
        }
    }
}

struct ImportDefinitions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import_definitions", abstract: "Imports definitions in JSON")
    @OptionGroup var options: ControlOptions
    @Argument(help: "File to read, or - for standard input") var filePath: String

    func run() async throws {
        let data: Data
        if filePath == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: filePath) else {
                throw fail(
                    "Error (argument validation): Bad argument: File \(filePath) does not exist", status: .dataError)
            }
            data = contents
        }
        let source = filePath == "-" ? "standard input" : "a file at \"\(filePath)\""
        try await BrokerCall(options: options).run(
            ControlRequest(
                command: "import_definitions", options: ["definitions": String(decoding: data, as: UTF8.self)]),
            inform: "Importing definitions in JSON from \(source) ...")
        if options.informs { print("Successfully imported definitions") }
    }
}
