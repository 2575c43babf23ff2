import Foundation
import Logging
import WarrenControl
import WarrenCore

/// A ControlServer in this process, in a fresh data directory, and the real warrenctl binary run
/// against it.
final class ControlHarness: Sendable {
    let dataDirectory: String
    let server: ControlServer

    init(handler: any ControlCommandHandler) async throws {
        dataDirectory = NSTemporaryDirectory() + "warrenctl-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        server = ControlServer(
            socketPath: dataDirectory + "/warren.sock", handler: handler, logger: Logger(label: "test.control"))
        try await server.start()
        let server = self.server
        Task { await server.run() }
    }

    func stop() async {
        await server.shutdown()
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    struct Run: CustomStringConvertible {
        var stdout: String
        var stderr: String
        var status: Int32
        var description: String { "status \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
    }

    func warrenctl(_ arguments: String..., stdin: String? = nil) async throws -> Run {
        try await Self.warrenctl(Array(arguments) + ["--data-dir", dataDirectory], stdin: stdin)
    }

    /// The warrenctl built beside this test binary.
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["WARRENCTL_BIN"] { return URL(fileURLWithPath: path) }
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return executable.deletingLastPathComponent().appendingPathComponent("warrenctl")
    }

    /// Runs warrenctl without blocking a thread of the task pool (the server's tasks need them):
    /// output goes to files and the exit is awaited through the termination handler.
    static func warrenctl(_ arguments: [String], stdin: String? = nil) async throws -> Run {
        let scratch = NSTemporaryDirectory() + "warrenctl-run-\(UUID().uuidString)"
        let outPath = scratch + ".out"
        let errPath = scratch + ".err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        let input = Pipe()
        process.standardInput = input
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                continuation.resume(throwing: error)
                return
            }
            if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
            try? input.fileHandleForWriting.close()
        }
        return Run(
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "", status: status)
    }
}

/// The reference handler, plus canned queue listings for the commands that need a broker.
struct CannedBrokerHandler: ControlCommandHandler {
    let users: UserDatabaseCommandHandler

    func handle(_ request: ControlRequest) async -> ControlResponse {
        switch request.command {
        case "list_queues":
            guard request.vhost == "/" else { return .table(ControlTable(columns: request.columns, rows: [])) }
            let records: [[String: JSONValue]] = [
                [
                    "name": .string("orders"), "messages": .int(2), "durable": .bool(true),
                    "arguments": ControlValue.arguments(["x-max-length": .int32(10), "x-queue-mode": .string("lazy")]),
                ],
                ["name": .string("scratch"), "messages": .int(0), "durable": .bool(false), "arguments": .array([])],
            ]
            return .table(ControlTable(columns: request.columns, records: records))
        case "purge_queue":
            return request.args == ["orders"]
                ? .done
                : .failure("Queue '\(request.args.first ?? "")' in vhost '\(request.vhost)' not found", .unavailable)
        default:
            return await users.handle(request)
        }
    }
}
