import AMQPProtocol
import Foundation
import Testing
import WarrenControl

@testable import WarrenCore

/// Checks that RabbitMQ accepts definitions Warren writes. Manual: needs RabbitMQ running
/// (`shared/bench/rabbitmq.sh start`); run with WARREN_RABBITMQ_IMPORT_CHECK=1, and
/// RABBIT_PORT to pick the instance.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["WARREN_RABBITMQ_IMPORT_CHECK"] != nil))
struct RabbitMQImportCheck {
    static let script = "/work/shared/bench/rabbitmq.sh"

    @Test func rabbitMQImportsWhatWarrenExports() throws {
        var database = UserDatabase()
        database.addVhost("warren-vh", metadata: VhostMetadata(description: "made by Warren", tags: ["a", "b"]))
        try database.addUser("warren-made", password: "made-by-warren", tags: ["monitoring"])
        try database.setPermission(
            Permission(configure: "^warren\\.", write: ".*", read: ""), user: "warren-made", vhost: "warren-vh")
        try database.setTopicPermission(
            TopicPermission(user: "warren-made", vhost: "warren-vh", exchange: "amq.topic", write: "^w", read: ".*"))
        var definitions = Definitions(userDatabase: database)
        definitions.productName = "Warren"
        definitions.productVersion = "0.1"
        definitions.exchanges = [
            ExchangeDefinition(
                name: "warren.x", vhost: "warren-vh", type: "headers",
                arguments: ["alternate-exchange": .string("warren.ae")]),
            ExchangeDefinition(name: "warren.ae", vhost: "warren-vh", type: "fanout"),
        ]
        definitions.queues = [
            QueueDefinition(
                name: "warren.q", vhost: "warren-vh",
                arguments: [
                    "x-max-length": .int32(10), "x-message-ttl": .int64(60000), "x-queue-mode": .string("lazy"),
                    "x-dead-letter-exchange": .string("warren.ae"),
                ])
        ]
        definitions.bindings = [
            BindingDefinition(
                source: "warren.x", vhost: "warren-vh", destination: "warren.q",
                arguments: [
                    "x-match": .string("all"), "flag": .boolean(true), "n": .uint8(7), "ratio": .double(0.5),
                    "list": .array([.string("a"), .int32(1)]), "nested": .table(["k": .string("v")]),
                ]),
            BindingDefinition(
                source: "warren.x", vhost: "warren-vh", destination: "warren.ae", destinationType: .exchange,
                routingKey: "rk"),
        ]
        definitions.policies = [
            PolicyDefinition(
                vhost: "warren-vh", name: "warren-policy", pattern: "^warren\\.", applyTo: "queues",
                definition: ["max-length": .int(5)], priority: 2)
        ]
        var parameters = RuntimeParameters()
        try parameters.setPolicy(
            PolicyDefinition(
                vhost: "warren-vh", name: "warren-op", pattern: "^warren\\.", applyTo: "queues",
                definition: ["message-ttl": .int(1000)], priority: 1),
            operatorPolicy: true)
        definitions.parameters = RuntimeParameterCommands.parameterList(parameters)
        definitions.globalParameters = [GlobalParameterDefinition(name: "warren-global", value: .string("hello"))]
        let path = "/tmp/warren-produced-definitions.json"
        try definitions.json().write(to: URL(fileURLWithPath: path))
        // RabbitMQ's node reads the file itself, as its own OS user.
        chmod(path, 0o644)

        #expect(try Self.ctl("import_definitions", path).status == 0)
        Thread.sleep(forTimeInterval: 2)  // the import runs asynchronously
        #expect(try Self.ctl("-q", "authenticate_user", "warren-made", "made-by-warren").output == "Success\n")
        let queues = try Self.ctl("-q", "list_queues", "-p", "warren-vh", "name", "arguments").output
        #expect(queues.contains("warren.q"))
        #expect(queues.contains("{\"x-max-length\",10}"))
        let bindings = try Self.ctl("-q", "list_bindings", "-p", "warren-vh").output
        #expect(bindings.contains("warren.ae\texchange\trk"))
        #expect(bindings.contains("{\"flag\",true}"))
        let permissions = try Self.ctl("-q", "list_permissions", "-p", "warren-vh").output
        #expect(permissions.contains("warren-made\t^warren\\.\t.*\t"))
        let policies = try Self.ctl("-q", "list_policies", "-p", "warren-vh").output
        #expect(policies.contains("warren-policy"))
        let operatorPolicies = try Self.ctl("-q", "list_operator_policies", "-p", "warren-vh").output
        #expect(operatorPolicies.contains("warren-op\t^warren\\.\tqueues\t{\"message-ttl\":1000}\t1"))
        let globals = try Self.ctl("-q", "list_global_parameters").output
        #expect(globals.contains("warren-global\t\"hello\""))
        _ = try Self.ctl("clear_global_parameter", "warren-global")
        _ = try Self.ctl("delete_vhost", "warren-vh")
        _ = try Self.ctl("delete_user", "warren-made")
    }

    static func ctl(_ arguments: String...) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: script)
        process.arguments = ["ctl"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
