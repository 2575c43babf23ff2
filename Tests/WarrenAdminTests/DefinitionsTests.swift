import AMQPProtocol
import Foundation
import Testing

@testable import WarrenCore

@Suite struct DefinitionsTests {
    @Test func decodesARabbitMQ310Export() throws {
        let definitions = try Definitions(json: Fixtures.rabbitMQDefinitions())
        #expect(definitions.rabbitVersion == "3.10.8")
        #expect(definitions.rabbitmqVersion == "3.10.8")
        #expect(definitions.users.count == 6)
        #expect(definitions.vhosts.map(\.name).sorted() == ["/", "dev"])
        #expect(definitions.permissions.count == 6)
        #expect(definitions.topicPermissions.count == 1)
        #expect(definitions.policies.count == 1)
        #expect(definitions.parameters.count == 1)
        #expect(definitions.globalParameters.count == 1)
        #expect(definitions.queues.count == 17)
        #expect(definitions.exchanges.count == 12)
        #expect(definitions.bindings.count == 25)
    }

    @Test func readsUsersWithTagListsAndClearedPasswords() throws {
        let definitions = try Definitions(json: Fixtures.rabbitMQDefinitions())
        let alice = try #require(definitions.users.first { $0.name == "alice" })
        #expect(alice.tags == ["management", "policymaker"])
        #expect(alice.hashingAlgorithm == "rabbit_password_hashing_sha256")
        let nopass = try #require(definitions.users.first { $0.name == "nopass" })
        #expect(nopass.passwordHash == "")
        #expect(try User(nopass).passwordHash == nil)
    }

    @Test func readsVhostMetadataWithTagsAsAString() throws {
        let definitions = try Definitions(json: Fixtures.rabbitMQDefinitions())
        let dev = try #require(definitions.vhosts.first { $0.name == "dev" })
        #expect(dev.metadata?.description == "Development")
        #expect(dev.metadata?.tags == ["team-a", "qa"])
        #expect(dev.limits == .array([.array([.string("max-connections"), .int(100)])]))
    }

    @Test func readsPoliciesAndParameters() throws {
        let definitions = try Definitions(json: Fixtures.rabbitMQDefinitions())
        let policy = try #require(definitions.policies.first)
        #expect(policy.name == "ttl-policy" && policy.vhost == "dev" && policy.pattern == "^ttl\\.")
        #expect(policy.applyTo == "queues" && policy.priority == 1)
        #expect(policy.definition == ["message-ttl": .int(60000), "max-length": .int(1000)])
        #expect(definitions.parameters.first?.component == "vhost-limits")
        #expect(definitions.globalParameters.first?.value == .string("hello"))
        let topic = try #require(definitions.topicPermissions.first)
        #expect(topic.exchange == "amq.topic" && topic.write == "^alice\\." && topic.read == "^public\\.")
    }

    @Test func mapsQueueArgumentsToFieldValues() throws {
        let definitions = try Definitions(json: Fixtures.rabbitMQDefinitions())
        let work = try #require(definitions.queues.first { $0.name == "orders.work" && $0.vhost == "/" })
        #expect(work.durable && !work.autoDelete && work.type == "classic")
        #expect(work.arguments["x-message-ttl"] == .int64(30000))
        #expect(work.arguments["x-dead-letter-exchange"] == .string("orders"))
        #expect(work.arguments["x-overflow"] == .string("reject-publish"))
        let quorum = try #require(definitions.queues.first { $0.name == "quorum.q" })
        #expect(quorum.type == "quorum")
        #expect(quorum.arguments["x-delivery-limit"]?.integerValue == 5)
        let scratch = try #require(definitions.queues.first { $0.name == "scratch" && $0.vhost == "dev" })
        #expect(!scratch.durable)
    }

    @Test func readsExchangesOfEveryType() throws {
        let definitions = try Definitions(json: Fixtures.rabbitMQDefinitions())
        let slash = definitions.exchanges.filter { $0.vhost == "/" }
        #expect(Set(slash.map(\.type)) == ["direct", "fanout", "topic", "headers"])
        let broadcast = try #require(slash.first { $0.name == "broadcast" })
        #expect(broadcast.arguments["alternate-exchange"] == .string("unrouted"))
        // RabbitMQ 3.10 leaves internal exchanges out of exports, though bindings to them are in.
        #expect(!slash.contains { $0.name == "internal-audit" })
        #expect(definitions.bindings.contains { $0.destination == "internal-audit" })
        #expect(slash.first { $0.name == "temp-ex" }?.autoDelete == true)
    }

    @Test func readsInternalExchangesAndFillsInMissingFields() throws {
        let json = #"{"exchanges":[{"name":"audit","vhost":"/","type":"topic","internal":true}]}"#
        let exchange = try #require(try Definitions(json: Data(json.utf8)).exchanges.first)
        #expect(exchange.internal && exchange.durable && !exchange.autoDelete && exchange.arguments.isEmpty)
    }

    @Test func readsExchangeToExchangeAndHeadersBindings() throws {
        let definitions = try Definitions(json: Fixtures.rabbitMQDefinitions())
        let slash = definitions.bindings.filter { $0.vhost == "/" }
        let e2e = try #require(slash.first { $0.source == "events" && $0.destination == "internal-audit" })
        #expect(e2e.destinationType == .exchange && e2e.routingKey == "#")
        let headers = try #require(slash.first { $0.destination == "pdf-jobs" })
        #expect(headers.arguments["x-match"] == .string("all"))
        #expect(headers.arguments["size"] == .int64(42))
        #expect(headers.arguments["rush"] == .boolean(true))
        let any = try #require(slash.first { $0.destination == "priority-jobs" && $0.source == "by-header" })
        #expect(any.arguments["labels"] == .array([.string("x"), .string("y")]))
    }

    @Test func fixtureUsersLogInWithTheirDocumentedPasswords() throws {
        var database = UserDatabase()
        try database.importDefinitions(try Definitions(json: Fixtures.rabbitMQDefinitions()))
        for (user, password) in Fixtures.passwords {
            #expect(database.authenticate(user, password: password) != nil, "\(user)")
            #expect(database.authenticate(user, password: password + "x") == nil, "\(user)")
        }
        #expect(database.authenticate("nopass", password: "whatever") == nil)
        #expect(database.permission(user: "bob", vhost: "dev")?.write == "^amq\\.topic$")
        #expect(database.vhosts["dev"]?.tags == ["team-a", "qa"])
        let access = AccessControl(database)
        #expect(throws: (any Error).self) {
            try access.checkTopic(.write, routingKey: "bob.x", exchange: "amq.topic", user: "alice", vhost: "dev")
        }
    }

    @Test func readsOlderExportsWithTagStringsAndNoAlgorithm() throws {
        // The shape of a RabbitMQ 3.5 export: tags as one string, no hashing_algorithm (so MD5).
        let salt: [UInt8] = [1, 2, 3, 4]
        let hash = PasswordHash(password: "old-secret", salt: salt, algorithm: .md5).encoded
        let json = """
            {"rabbit_version":"3.5.7","users":[{"name":"legacy","password_hash":"\(hash)","tags":"administrator,management"}],
             "vhosts":[{"name":"/"}],"permissions":[{"user":"legacy","vhost":"/","configure":".*","write":".*","read":".*"}]}
            """
        let definitions = try Definitions(json: Data(json.utf8))
        #expect(definitions.users.first?.tags == ["administrator", "management"])
        #expect(definitions.queues.isEmpty && definitions.bindings.isEmpty)
        var database = UserDatabase()
        try database.importDefinitions(definitions)
        #expect(database.user(named: "legacy")?.hashingAlgorithm == .md5)
        #expect(database.authenticate("legacy", password: "old-secret") != nil)
    }

    @Test func importHashesClearTextPasswords() throws {
        let json = #"{"users":[{"name":"new","password":"pw","tags":[]}],"vhosts":[{"name":"/"}]}"#
        var database = UserDatabase()
        try database.importDefinitions(try Definitions(json: Data(json.utf8)))
        #expect(database.authenticate("new", password: "pw") != nil)
    }

    @Test func importRefusesUnknownHashingAlgorithms() throws {
        let json = #"{"users":[{"name":"x","password_hash":"AAAA","hashing_algorithm":"rot13","tags":[]}]}"#
        var database = UserDatabase()
        #expect(throws: UserDatabaseError.unknownHashingAlgorithm("rot13")) {
            try database.importDefinitions(try Definitions(json: Data(json.utf8)))
        }
    }

    @Test func reencodingKeepsEverything() throws {
        let original = try Definitions(json: Fixtures.rabbitMQDefinitions())
        let again = try Definitions(json: original.json())
        #expect(again == original)
    }

    @Test func encodesWithRabbitMQsKeysAndUnescapedSlashes() throws {
        var definitions = Definitions(userDatabase: .seeded())
        definitions.queues = [
            QueueDefinition(
                name: "q", vhost: "/", arguments: ["x-max-length": .int32(10), "x-queue-mode": .string("lazy")])
        ]
        definitions.bindings = [
            BindingDefinition(
                source: "amq.headers", vhost: "/", destination: "q",
                arguments: ["x-match": .string("any"), "n": .void, "t": .table(["k": .double(1.5)])])
        ]
        let text = String(decoding: try definitions.json(), as: UTF8.self)
        #expect(text.contains(#""vhost":"/""#))
        #expect(text.contains(#""arguments":{"x-max-length":10,"x-queue-mode":"lazy"}"#))
        #expect(text.contains(#""arguments":{"n":null,"t":{"k":1.5},"x-match":"any"}"#))
        #expect(text.contains(#""destination_type":"queue""#))
        #expect(text.contains(#""hashing_algorithm":"rabbit_password_hashing_sha256""#))
        #expect(text.contains(#""rabbit_version":"3.10.8""#))
        #expect(text.contains(#""topic_permissions":[]"#))
    }

    @Test func exportOfTheUserDatabaseImportsBackTheSame() throws {
        var database = UserDatabase.seeded()
        try database.addUser("alice", password: "secret", tags: ["monitoring"])
        try database.clearPassword("guest")
        database.addVhost("dev", metadata: VhostMetadata(description: "d", tags: ["a", "b"]))
        try database.setPermission(Permission(configure: "", write: "x", read: "^y$"), user: "alice", vhost: "dev")
        let exported = try Definitions(userDatabase: database).json()
        var imported = UserDatabase()
        try imported.importDefinitions(try Definitions(json: exported))
        #expect(imported == database)
    }

    @Test func jsonNumbersBecomeLongsOrDoubles() {
        #expect(FieldValue(json: .int(7)) == .int64(7))
        #expect(FieldValue(json: .double(0.5)) == .double(0.5))
        #expect(FieldValue(json: .null) == .void)
        #expect(
            FieldValue(json: .object(["b": .bool(true), "a": .string("s")]))
                == .table(["a": .string("s"), "b": .boolean(true)]))
        #expect(JSONValue(FieldValue.uint8(200)) == .int(200))
        #expect(JSONValue(FieldValue.decimal(scale: 2, value: 150)) == .double(1.5))
        #expect(JSONValue(FieldValue.byteArray(Array("raw".utf8))) == .string("raw"))
        #expect(JSONValue(FieldValue.timestamp(1_700_000_000)) == .int(1_700_000_000))
    }
}
