import Testing

@testable import WarrenCore

@Suite struct AccessControlTests {
    /// bob's permissions in `dev` are those of the fixture's bob.
    static func database() throws -> UserDatabase {
        var database = UserDatabase.seeded()
        database.addVhost("dev")
        try database.addUser("bob", password: "bob-secret")
        try database.setPermission(
            Permission(configure: "", write: "^amq\\.topic$", read: "^bob\\..*"), user: "bob", vhost: "dev")
        try database.addUser("carol", password: "x")
        try database.setPermission(
            Permission(configure: "^carol-", write: "jobs", read: "^(orders|amq\\.default)$"), user: "carol",
            vhost: "dev")
        return database
    }

    @Test func patternsAreSearchedNotAnchored() throws {
        let pattern = try ResourcePattern("jobs")
        #expect(pattern.matches("jobs"))
        #expect(pattern.matches("pdf-jobs.high"))
        #expect(!pattern.matches("job"))
        let anchored = try ResourcePattern("^carol-")
        #expect(anchored.matches("carol-q"))
        #expect(!anchored.matches("x.carol-q"))
    }

    @Test func emptyPatternMatchesOnlyTheEmptyName() throws {
        let pattern = try ResourcePattern("")
        #expect(!pattern.matches("anything"))
        #expect(!pattern.matches("amq.default"))
        #expect(pattern.matches(""))
    }

    @Test func dotStarMatchesEverything() throws {
        let pattern = try ResourcePattern(".*")
        #expect(pattern.matches(""))
        #expect(pattern.matches("any.name"))
    }

    @Test func bracesThatAreNotQuantifiersAreLiteralAsInPCRE() throws {
        #expect(try ResourcePattern("^{username}\\.").matches("{username}.x"))
        #expect(try ResourcePattern("^a{2}$").matches("aa"))
        #expect(try ResourcePattern("^a{1,}$").matches("aaa"))
        #expect(try ResourcePattern("^a{,2}$").matches("a{,2}"))
        #expect(try ResourcePattern("^\\{x\\}$").matches("{x}"))
    }

    @Test func invalidPatternsAreRefused() {
        #expect(throws: UserDatabaseError.invalidPattern("(")) { try ResourcePattern("(") }
        #expect(throws: UserDatabaseError.invalidPattern("[a-")) { try ResourcePattern("[a-") }
    }

    @Test func vhostAccessNeedsAPermissionEntryEvenAnEmptyOne() throws {
        let access = AccessControl(try Self.database())
        #expect(access.canAccess(user: "bob", vhost: "dev"))
        #expect(!access.canAccess(user: "bob", vhost: "/"))
        #expect(throws: BrokerError.notAllowed("access to vhost '/' refused for user 'bob'")) {
            try access.checkVhostAccess(user: "bob", vhost: "/")
        }
        #expect(
            BrokerError.notAllowed("access to vhost '/' refused for user 'bob'").text
                == "NOT_ALLOWED - access to vhost '/' refused for user 'bob'")
    }

    @Test func unknownUsersCanDoNothing() throws {
        let access = AccessControl(try Self.database())
        #expect(!access.canRead(user: "mallory", vhost: "/", resource: "q"))
    }

    @Test func refusalTextsAreRabbitMQs() throws {
        let access = AccessControl(try Self.database())
        do {
            try access.authorize(.queueDeclare(queue: "bob.q", passive: false), user: "bob", vhost: "dev")
            Issue.record("expected a refusal")
        } catch {
            #expect(error.text == "ACCESS_REFUSED - access to queue 'bob.q' in vhost 'dev' refused for user 'bob'")
            #expect(error.replyCode == 403)
            #expect(error.scope == .channel)
        }
    }

    @Test func defaultExchangeIsCheckedAsAmqDefault() throws {
        let access = AccessControl(try Self.database())
        do {
            try access.authorize(.basicPublish(exchange: ""), user: "bob", vhost: "dev")
            Issue.record("expected a refusal")
        } catch {
            #expect(
                error.text == "ACCESS_REFUSED - access to exchange 'amq.default' in vhost 'dev' refused for user 'bob'")
        }
        // carol's read pattern names amq.default explicitly.
        #expect(throws: Never.self) {
            try access.authorize(.exchangeBind(destination: "jobs", source: ""), user: "carol", vhost: "dev")
        }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var operation: ResourceOperation
        var user: String
        /// The resource named by the refusal, or nil when allowed.
        var refused: String?
        var testDescription: String { "\(operation) by \(user)" }
    }

    /// Outcomes observed against RabbitMQ 3.10.8 with the fixture's bob (configure "", write
    /// "^amq\.topic$", read "^bob\..*" in dev), and the documented table for the rest.
    static let cases: [Case] = [
        Case(operation: .queueDeclare(queue: "bob.q", passive: false), user: "bob", refused: "queue 'bob.q'"),
        Case(operation: .queueDeclare(queue: "orders.created", passive: true), user: "bob", refused: nil),
        Case(operation: .exchangeDeclare(exchange: "orders", passive: true), user: "bob", refused: nil),
        Case(operation: .exchangeDeclare(exchange: "x", passive: false), user: "bob", refused: "exchange 'x'"),
        Case(
            operation: .queueDeclare(queue: "amq.gen-lo7Ud", passive: false), user: "bob",
            refused: "queue 'amq.gen-lo7Ud'"),
        Case(operation: .basicPublish(exchange: ""), user: "bob", refused: "exchange 'amq.default'"),
        Case(operation: .basicPublish(exchange: "amq.topic"), user: "bob", refused: nil),
        Case(operation: .basicPublish(exchange: "orders"), user: "bob", refused: "exchange 'orders'"),
        Case(operation: .basicGet(queue: "orders.created"), user: "bob", refused: "queue 'orders.created'"),
        Case(operation: .basicGet(queue: "bob.inbox"), user: "bob", refused: nil),
        Case(operation: .basicConsume(queue: "orders.created"), user: "bob", refused: "queue 'orders.created'"),
        Case(operation: .queuePurge(queue: "orders.created"), user: "bob", refused: "queue 'orders.created'"),
        Case(
            operation: .queueBind(queue: "orders.created", exchange: "orders"), user: "bob",
            refused: "queue 'orders.created'"),
        Case(
            operation: .exchangeBind(destination: "orders", source: "events"), user: "bob", refused: "exchange 'orders'"
        ),
        Case(operation: .queueDelete(queue: "orders.created"), user: "bob", refused: "queue 'orders.created'"),
        Case(operation: .exchangeDelete(exchange: "orders"), user: "bob", refused: "exchange 'orders'"),
        // carol: configure ^carol-, write jobs, read ^(orders|amq\.default)$
        Case(operation: .queueDeclare(queue: "carol-q", passive: false), user: "carol", refused: nil),
        Case(operation: .queueBind(queue: "pdf-jobs", exchange: "orders"), user: "carol", refused: nil),
        Case(operation: .queueBind(queue: "pdf-jobs", exchange: "events"), user: "carol", refused: "exchange 'events'"),
        Case(operation: .queueUnbind(queue: "carol-q", exchange: "orders"), user: "carol", refused: "queue 'carol-q'"),
        Case(operation: .exchangeUnbind(destination: "jobs", source: "orders"), user: "carol", refused: nil),
        Case(
            operation: .queueDeclare(queue: "carol-q", passive: false, deadLetterExchange: "dlx"), user: "carol",
            refused: "queue 'carol-q'"),
        Case(
            operation: .exchangeDeclare(exchange: "carol-x", passive: false, alternateExchange: "ae"),
            user: "carol", refused: "exchange 'carol-x'"),
    ]

    @Test(arguments: cases) func operationNeedsThePermissionsRabbitMQDocuments(_ testCase: Case) throws {
        let access = AccessControl(try Self.database())
        do {
            try access.authorize(testCase.operation, user: testCase.user, vhost: "dev")
            #expect(testCase.refused == nil)
        } catch {
            let expected = testCase.refused.map {
                "ACCESS_REFUSED - access to \($0) in vhost 'dev' refused for user '\(testCase.user)'"
            }
            #expect(error.text == expected)
        }
    }

    @Test func requirementTableFollowsTheGuide() {
        #expect(
            ResourceOperation.queueBind(queue: "q", exchange: "x").requirements == [
                AccessRequirement(.write, .queue("q")), AccessRequirement(.read, .exchange("x")),
            ])
        #expect(
            ResourceOperation.exchangeBind(destination: "d", source: "s").requirements == [
                AccessRequirement(.write, .exchange("d")), AccessRequirement(.read, .exchange("s")),
            ])
        #expect(
            ResourceOperation.queueDeclare(queue: "q", passive: false, deadLetterExchange: "").requirements == [
                AccessRequirement(.configure, .queue("q")), AccessRequirement(.read, .queue("q")),
                AccessRequirement(.write, .exchange("amq.default")),
            ])
        #expect(
            ResourceOperation.exchangeDeclare(exchange: "x", passive: false, alternateExchange: "ae").requirements
                == [
                    AccessRequirement(.configure, .exchange("x")), AccessRequirement(.read, .exchange("x")),
                    AccessRequirement(.write, .exchange("ae")),
                ])
        #expect(ResourceOperation.queueDeclare(queue: "q", passive: true).requirements.isEmpty)
        #expect(ResourceOperation.exchangeDeclare(exchange: "x", passive: true).requirements.isEmpty)
    }

    @Test func topicPermissionsLimitRoutingKeysOnTheirExchangeOnly() throws {
        var database = UserDatabase.seeded()
        try database.setTopicPermission(
            TopicPermission(
                user: "guest", vhost: "/", exchange: "amq.topic", write: "^{username}\\.", read: "^public\\."))
        let access = AccessControl(database)
        #expect(throws: Never.self) {
            try access.checkTopic(.write, routingKey: "guest.x", exchange: "amq.topic", user: "guest", vhost: "/")
            try access.checkTopic(.read, routingKey: "public.y", exchange: "amq.topic", user: "guest", vhost: "/")
            try access.checkTopic(.write, routingKey: "other", exchange: "events", user: "guest", vhost: "/")
        }
        do {
            try access.checkTopic(.write, routingKey: "other.key", exchange: "amq.topic", user: "guest", vhost: "/")
            Issue.record("expected a refusal")
        } catch {
            #expect(
                error.text
                    == "ACCESS_REFUSED - access to topic 'other.key' in exchange 'amq.topic' in vhost '/' refused for user 'guest'"
            )
        }
    }
}
