import ArgumentParser
import Foundation
import WarrenControl
import WarrenCore

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Displays status of the broker")
    @OptionGroup var options: ControlOptions

    func run() async throws {
        let call = BrokerCall(options: options)
        let response = try await call.send(
            ControlRequest(command: "status"), inform: options.formatter == .json ? nil : "Status of Warren ...")
        guard let document = response.document else { return }
        if options.formatter == .json {
            call.write(try BrokerCall.json(document) + "\n")
        } else {
            call.write(StatusText.render(document))
        }
    }
}

struct AwaitStartup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "await_startup", abstract: "Waits for the broker to start, up to --timeout seconds")
    @OptionGroup var options: ControlOptions

    func run() async throws {
        let client = ControlClient(dataDirectory: options.dataDir)
        let deadline = Date().addingTimeInterval(options.timeout)
        while true {
            do {
                let response = try await client.send(ControlRequest(command: "await_startup"))
                if response.ok { return }
            } catch {
                if case .badResponse = error { throw fail("Error: \(error)", status: .unavailable) }
            }
            guard Date() < deadline else {
                throw fail(
                    "Error: the broker at \(client.socketPath) did not start within \(options.timeout) seconds",
                    status: .timeout)
            }
            try await Task.sleep(nanoseconds: 200_000_000)
        }
    }
}
