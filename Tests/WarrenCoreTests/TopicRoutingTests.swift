import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// Topic exchange routing, checked against the semantics of RabbitMQ's topic exchange.
@Suite struct TopicRoutingTests {
    /// Whether a single binding `pattern` matches `key`.
    static func matches(_ pattern: String, _ key: String) throws -> Bool {
        let vhost = makeVHost()
        try vhost.makeExchange("t", .topic)
        try vhost.makeQueue("q")
        try vhost.bindQueue("q", to: "t", key: pattern)
        return try routedQueues(vhost, exchange: "t", routingKey: key) == ["q"]
    }

    static let table: [(pattern: String, key: String, matches: Bool)] = [
        // Literal words.
        ("a.b.c", "a.b.c", true),
        ("a.b.c", "a.b", false),
        ("a.b", "a.b.c", false),
        ("a.b.c", "a.B.c", false),
        // `#` alone matches everything, including the empty key.
        ("#", "a", true),
        ("#", "a.b.c.d", true),
        ("#", "", true),
        ("#", "a..b", true),
        // `*` is exactly one word, never zero.
        ("*", "a", true),
        ("*", "", false),
        ("*", "a.b", false),
        ("*.*", "a.b", true),
        ("*.*", "a", false),
        ("*.*", "a.b.c", false),
        ("a.*", "a.b", true),
        ("a.*", "a", false),
        ("*.b", "a.b", true),
        // `#` in a position matches zero or more words there.
        ("a.#", "a", true),
        ("a.#", "a.b", true),
        ("a.#", "a.b.c", true),
        ("a.#", "b.a", false),
        ("#.a", "a", true),
        ("#.a", "x.y.a", true),
        ("#.a", "a.x", false),
        ("a.#.b", "a.b", true),
        ("a.#.b", "a.x.b", true),
        ("a.#.b", "a.x.y.z.b", true),
        ("a.#.b", "a.x.c", false),
        ("a.#.b", "a.b.c", false),
        ("#.#", "", true),
        ("#.#", "a", true),
        ("#.#", "a.b.c", true),
        ("#.b.#", "b", true),
        ("#.b.#", "a.b.c", true),
        ("#.b.#", "a.c", false),
        ("*.#", "", false),
        ("*.#", "a", true),
        ("#.*", "a.b", true),
        ("#.*.#", "", false),
        ("#.*.#", "x", true),
        // The empty key and the empty pattern.
        ("", "", true),
        ("", "a", false),
        ("a", "", false),
        // Empty words are words: "a..b" has three words, "a." two, ".a" two.
        ("a.*.b", "a..b", true),
        ("a.b", "a..b", false),
        ("a.#.b", "a..b", true),
        ("*.*.*", "a..b", true),
        ("a..b", "a..b", true),
        ("a..b", "a.b", false),
        ("a.*", "a.", true),
        ("a", "a.", false),
        ("a.#", "a.", true),
        ("*.*", "a.", true),
        ("*.a", ".a", true),
        ("#.a", ".a", true),
        ("a", ".a", false),
        ("*", ".", false),
        ("*.*", ".", true),
        // Words are whole: no prefix or substring matching.
        ("a*", "ab", false),
        ("a.b*", "a.bc", false),
    ]

    @Test(arguments: table)
    func patternMatchesKeyAsRabbitMQDoes(_ row: (pattern: String, key: String, matches: Bool)) throws {
        #expect(try Self.matches(row.pattern, row.key) == row.matches, "pattern '\(row.pattern)' key '\(row.key)'")
    }

    /// RabbitMQ's own topic-matching test (rabbit's unit tests): every binding at once, each
    /// routing key reaching exactly the listed destinations.
    @Test func rabbitMQTopicMatchingSuiteRoutesEveryKeyToTheSameQueues() throws {
        let bindings: [(String, String)] = [
            ("a.b.c", "t1"), ("a.*.c", "t2"), ("a.#.b", "t3"), ("a.b.b.c", "t4"), ("#", "t5"), ("#.#", "t6"),
            ("#.b", "t7"), ("*.*", "t8"), ("a.*", "t9"), ("*.b.c", "t10"), ("a.#", "t11"), ("a.#.#", "t12"),
            ("b.b.c", "t13"), ("a.b.b", "t14"), ("a.b", "t15"), ("b.c", "t16"), ("", "t17"), ("*.*.*", "t18"),
            ("vodka.martini", "t19"), ("a.b.c", "t20"), ("*.#", "t21"), ("#.*.#", "t22"), ("*.#.#", "t23"),
            ("#.#.#", "t24"), ("*", "t25"), ("#.b.#", "t26"),
        ]
        let expected: [(String, [String])] = [
            ("a.b.c", ["t1", "t2", "t5", "t6", "t10", "t11", "t12", "t18", "t20", "t21", "t22", "t23", "t24", "t26"]),
            ("a.b", ["t3", "t5", "t6", "t7", "t8", "t9", "t11", "t12", "t15", "t21", "t22", "t23", "t24", "t26"]),
            ("a.b.b", ["t3", "t5", "t6", "t7", "t11", "t12", "t14", "t18", "t21", "t22", "t23", "t24", "t26"]),
            ("", ["t5", "t6", "t17", "t24"]),
            ("b.c.c", ["t5", "t6", "t18", "t21", "t22", "t23", "t24", "t26"]),
            ("a.a.a.a.a", ["t5", "t6", "t11", "t12", "t21", "t22", "t23", "t24"]),
            ("vodka.gin", ["t5", "t6", "t8", "t21", "t22", "t23", "t24"]),
            ("vodka.martini", ["t5", "t6", "t8", "t19", "t21", "t22", "t23", "t24"]),
            ("b.b.c", ["t5", "t6", "t10", "t13", "t18", "t21", "t22", "t23", "t24", "t26"]),
            ("nothing.here.at.all", ["t5", "t6", "t21", "t22", "t23", "t24"]),
            ("oneword", ["t5", "t6", "t21", "t22", "t23", "t24", "t25"]),
        ]
        let vhost = makeVHost()
        try vhost.makeExchange("t", .topic)
        for (pattern, queue) in bindings {
            try vhost.makeQueue(queue)
            try vhost.bindQueue(queue, to: "t", key: pattern)
        }
        for (key, queues) in expected {
            #expect(try routedQueues(vhost, exchange: "t", routingKey: key) == queues.sorted(), "key '\(key)'")
        }
    }

    @Test func queueMatchedByManyPatternsGetsOneCopy() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("t", .topic)
        try vhost.makeQueue("q")
        for pattern in ["#", "a.#", "*.b", "a.b", "#.#", "#.b.#"] { try vhost.bindQueue("q", to: "t", key: pattern) }
        let client = TestClient(vhost)
        client.openChannel()
        client.publish("m", exchange: "t", routingKey: "a.b")
        #expect(client.get("q") == ["1:get-ok #1 m left=0"])
        #expect(client.get("q") == ["1:basic.get-empty"])
    }

    @Test func removedBindingStopsMatchingWhileOtherBindingToSameQueueStays() throws {
        let vhost = makeVHost()
        let client = TestClient(vhost)
        client.openChannel()
        client.call(.exchangeDeclare(ExchangeDeclare(exchange: "t", type: "topic")))
        client.declareQueue("q")
        client.call(.queueBind(QueueBind(queue: "q", exchange: "t", routingKey: "a.*")))
        client.call(.queueBind(QueueBind(queue: "q", exchange: "t", routingKey: "#.c")))
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "a.b") == ["q"])
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "x.c") == ["q"])

        #expect(
            client.call(.queueUnbind(QueueUnbind(queue: "q", exchange: "t", routingKey: "a.*"))) == [
                "1:queue.unbind-ok"
            ])
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "a.b") == [])
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "x.c") == ["q"])
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "a.c") == ["q"])
    }

    @Test func unbindingOneOfTwoIdenticalPatternsToDifferentQueuesKeepsTheOther() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("t", .topic)
        try vhost.makeQueue("q1")
        try vhost.makeQueue("q2")
        try vhost.bindQueue("q1", to: "t", key: "a.#")
        try vhost.bindQueue("q2", to: "t", key: "a.#")
        try vhost.unbind(queue: "q1", exchange: "t", routingKey: "a.#", arguments: [:], sessionID: 0)
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "a.b") == ["q2"])
        try vhost.unbind(queue: "q2", exchange: "t", routingKey: "a.#", arguments: [:], sessionID: 0)
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "a.b") == [])
        // The trie is pruned: binding again works from scratch.
        try vhost.bindQueue("q1", to: "t", key: "a.#")
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "a") == ["q1"])
    }

    @Test func bindingsDifferingOnlyInArgumentsAreRemovedOneAtATime() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("t", .topic)
        try vhost.makeQueue("q")
        try vhost.bindQueue("q", to: "t", key: "k", arguments: ["foo": .string("bar")])
        try vhost.bindQueue("q", to: "t", key: "k", arguments: ["foo": .string("baz")])
        try vhost.unbind(queue: "q", exchange: "t", routingKey: "k", arguments: ["foo": .string("bar")], sessionID: 0)
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "k") == ["q"])
        try vhost.unbind(queue: "q", exchange: "t", routingKey: "k", arguments: ["foo": .string("baz")], sessionID: 0)
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "k") == [])
    }

    @Test func tenThousandBindingsRouteEachKeyToItsOwnQueues() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("t", .topic)
        // 10,000 bindings: 2,500 queues, each bound by an exact key, a `*` pattern, a `#`
        // pattern and a shared-prefix pattern.
        for i in 0..<2500 {
            let q = "q\(i)"
            try vhost.makeQueue(q)
            try vhost.bindQueue(q, to: "t", key: "stock.\(i).price")
            try vhost.bindQueue(q, to: "t", key: "news.*.\(i)")
            try vhost.bindQueue(q, to: "t", key: "audit.\(i).#")
            try vhost.bindQueue(q, to: "t", key: "region.\(i % 10).#.\(i)")
        }
        #expect(vhost.exchanges["t"]!.bindings.count == 10_000)
        for i in [0, 1, 9, 1234, 2499] {
            #expect(try routedQueues(vhost, exchange: "t", routingKey: "stock.\(i).price") == ["q\(i)"])
            #expect(try routedQueues(vhost, exchange: "t", routingKey: "news.eu.\(i)") == ["q\(i)"])
            #expect(try routedQueues(vhost, exchange: "t", routingKey: "audit.\(i)") == ["q\(i)"])
            #expect(try routedQueues(vhost, exchange: "t", routingKey: "audit.\(i).x.y.z") == ["q\(i)"])
            #expect(try routedQueues(vhost, exchange: "t", routingKey: "region.\(i % 10).a.b.\(i)") == ["q\(i)"])
        }
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "stock.2500.price") == [])
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "news.eu") == [])
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "region.3.7").isEmpty)

        // Every key lands on exactly its own queue.
        var misrouted: [Int] = []
        for i in 0..<2500 where try routedQueues(vhost, exchange: "t", routingKey: "stock.\(i).price") != ["q\(i)"] {
            misrouted.append(i)
        }
        #expect(misrouted.isEmpty)

        // Removing half the bindings leaves the rest intact.
        for i in stride(from: 0, to: 2500, by: 2) {
            try vhost.unbind(
                queue: "q\(i)", exchange: "t", routingKey: "stock.\(i).price", arguments: [:], sessionID: 0)
        }
        #expect(vhost.exchanges["t"]!.bindings.count == 8_750)
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "stock.42.price") == [])
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "stock.43.price") == ["q43"])
        #expect(try routedQueues(vhost, exchange: "t", routingKey: "news.x.42") == ["q42"])
    }
}
