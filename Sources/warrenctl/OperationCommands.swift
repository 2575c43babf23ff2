import ArgumentParser
import WarrenControl

struct CloseConnection: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "close_connection",
        abstract: "Instructs the broker to close the connection with the given name (see list_connections name)")
    @OptionGroup var options: ControlOptions
    @Argument(help: "The connection's name or pid, as list_connections shows it") var connection: String
    @Argument(help: "Explanation sent to the client in connection.close") var explanation: String

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(command: "close_connection", args: [connection, explanation]),
            inform: "Closing connection \(connection), reason: \(explanation)...")
    }
}

struct PurgeQueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge_queue", abstract: "Purges a queue (removes all messages in it)")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @Argument(help: "Name of the queue to purge") var queue: String

    func run() async throws {
        try await BrokerCall(options: options).run(
            ControlRequest(command: "purge_queue", args: [queue], options: ["vhost": scope.vhost]),
            inform: "Purging queue '\(queue)' in vhost '\(scope.vhost)' ...")
    }
}

struct DeleteQueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "delete_queue", abstract: "Deletes a queue")
    @OptionGroup var options: ControlOptions
    @OptionGroup var scope: VhostOption
    @Argument(help: "Name of the queue to delete") var queueName: String
    @Flag(name: [.customShort("e"), .long], help: "Delete the queue only if it has no messages ready")
    var ifEmpty = false
    @Flag(name: [.customShort("u"), .long], help: "Delete the queue only if it has no consumers")
    var ifUnused = false

    func run() async throws {
        var request = ControlRequest(command: "delete_queue", args: [queueName], options: ["vhost": scope.vhost])
        if ifEmpty { request.options["if_empty"] = "true" }
        if ifUnused { request.options["if_unused"] = "true" }
        try await BrokerCall(options: options).run(
            request, inform: "Deleting queue '\(queueName)' on vhost '\(scope.vhost)' ...")
    }
}
