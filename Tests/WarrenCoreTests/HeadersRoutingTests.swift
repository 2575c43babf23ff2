import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// Headers exchange routing with x-match all, any, all-with-x and any-with-x.
@Suite struct HeadersRoutingTests {
    /// Whether a binding with `arguments` matches a message with `headers` (nil: no headers
    /// property at all).
    static func matches(_ arguments: FieldTable, _ headers: FieldTable?) throws -> Bool {
        let vhost = makeVHost()
        try vhost.makeExchange("h", .headers)
        try vhost.makeQueue("q")
        try vhost.bindQueue("q", to: "h", arguments: arguments)
        return try routedQueues(vhost, exchange: "h", headers: headers) == ["q"]
    }

    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var binding: FieldTable
        var headers: FieldTable?
        var matches: Bool
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        // all (also the default when x-match is absent)
        Case(
            name: "all: every key equal", binding: ["x-match": .string("all"), "a": .string("1"), "b": .string("2")],
            headers: ["a": .string("1"), "b": .string("2"), "c": .string("3")], matches: true),
        Case(
            name: "all: one key different", binding: ["x-match": .string("all"), "a": .string("1"), "b": .string("2")],
            headers: ["a": .string("1"), "b": .string("X")], matches: false),
        Case(
            name: "all: one key missing", binding: ["x-match": .string("all"), "a": .string("1"), "b": .string("2")],
            headers: ["a": .string("1")], matches: false),
        Case(
            name: "default is all", binding: ["a": .string("1"), "b": .string("2")],
            headers: ["a": .string("1")], matches: false),
        Case(
            name: "default all matches", binding: ["a": .string("1")], headers: ["a": .string("1")], matches: true),
        Case(
            name: "all with no keys matches anything", binding: ["x-match": .string("all")], headers: [:], matches: true
        ),
        Case(name: "empty binding matches a message without headers", binding: [:], headers: nil, matches: true),
        Case(
            name: "all: message without headers", binding: ["a": .string("1")], headers: nil, matches: false),
        Case(
            name: "all: value types must agree (string vs int)", binding: ["a": .string("1")],
            headers: ["a": .int32(1)], matches: false),
        // any
        Case(
            name: "any: one key equal", binding: ["x-match": .string("any"), "a": .string("1"), "b": .string("2")],
            headers: ["b": .string("2")], matches: true),
        Case(
            name: "any: no key equal", binding: ["x-match": .string("any"), "a": .string("1"), "b": .string("2")],
            headers: ["a": .string("2"), "b": .string("1")], matches: false),
        Case(
            name: "any: message without headers", binding: ["x-match": .string("any"), "a": .string("1")],
            headers: nil, matches: false),
        Case(
            name: "any with no keys matches nothing", binding: ["x-match": .string("any")],
            headers: ["a": .string("1")], matches: false),
        // x- keys are ignored by all/any
        Case(
            name: "all ignores x- binding keys",
            binding: ["x-match": .string("all"), "x-tag": .string("t"), "a": .string("1")],
            headers: ["a": .string("1")], matches: true),
        Case(
            name: "any ignores x- binding keys", binding: ["x-match": .string("any"), "x-tag": .string("t")],
            headers: ["x-tag": .string("t")], matches: false),
        Case(
            name: "any ignores x- even when other keys miss",
            binding: ["x-match": .string("any"), "x-tag": .string("t"), "a": .string("1")],
            headers: ["x-tag": .string("t"), "a": .string("2")], matches: false),
        // all-with-x / any-with-x
        Case(
            name: "all-with-x requires x- keys",
            binding: ["x-match": .string("all-with-x"), "x-tag": .string("t"), "a": .string("1")],
            headers: ["a": .string("1")], matches: false),
        Case(
            name: "all-with-x matches with x- keys present",
            binding: ["x-match": .string("all-with-x"), "x-tag": .string("t"), "a": .string("1")],
            headers: ["a": .string("1"), "x-tag": .string("t")], matches: true),
        Case(
            name: "any-with-x matches on an x- key",
            binding: ["x-match": .string("any-with-x"), "x-tag": .string("t"), "a": .string("1")],
            headers: ["x-tag": .string("t")], matches: true),
        Case(
            name: "any-with-x with nothing equal",
            binding: ["x-match": .string("any-with-x"), "x-tag": .string("t")],
            headers: ["x-tag": .string("u")], matches: false),
        // A void binding value asks for presence only.
        Case(
            name: "void value: present with any value", binding: ["a": .void], headers: ["a": .string("anything")],
            matches: true),
        Case(name: "void value: absent", binding: ["a": .void], headers: ["b": .string("x")], matches: false),
        Case(
            name: "void value with any", binding: ["x-match": .string("any"), "a": .void, "b": .string("1")],
            headers: ["a": .int8(0)], matches: true),
        // Integers compare by value across widths and signedness.
        Case(name: "int8 binding, int64 header", binding: ["n": .int8(5)], headers: ["n": .int64(5)], matches: true),
        Case(
            name: "uint32 binding, int32 header", binding: ["n": .uint32(7)], headers: ["n": .int32(7)], matches: true),
        Case(
            name: "int16 binding, uint8 header", binding: ["n": .int16(200)], headers: ["n": .uint8(200)], matches: true
        ),
        Case(
            name: "int64 binding, uint64 header", binding: ["n": .int64(1 << 40)], headers: ["n": .uint64(1 << 40)],
            matches: true),
        Case(name: "different integers", binding: ["n": .int32(5)], headers: ["n": .int32(6)], matches: false),
        Case(name: "negative vs unsigned", binding: ["n": .int8(-1)], headers: ["n": .uint8(255)], matches: false),
        Case(name: "booleans", binding: ["b": .boolean(true)], headers: ["b": .boolean(true)], matches: true),
        Case(name: "booleans differ", binding: ["b": .boolean(true)], headers: ["b": .boolean(false)], matches: false),
        Case(
            name: "header key case matters", binding: ["Key": .string("v")], headers: ["key": .string("v")],
            matches: false),
    ]

    @Test(arguments: cases)
    func headersBindingMatchesAsRabbitMQDoes(_ c: Case) throws {
        #expect(try Self.matches(c.binding, c.headers) == c.matches)
    }

    @Test func invalidXMatchValueIsRefusedWith406() {
        let vhost = makeVHost()
        let client = TestClient(vhost)
        client.openChannel()
        client.declareQueue("q")
        #expect(
            client.call(
                .queueBind(QueueBind(queue: "q", exchange: "amq.headers", arguments: ["x-match": .string("some")])))
                == ["1:channel.close 406 50/20"])
    }

    @Test func headersExchangeRoutesPublishedMessagesToMatchingQueues() {
        let vhost = makeVHost()
        let client = TestClient(vhost)
        client.openChannel()
        client.declareQueue("pdf")
        client.declareQueue("any-report")
        client.call(
            .queueBind(
                QueueBind(
                    queue: "pdf", exchange: "amq.match",
                    arguments: ["format": .string("pdf"), "type": .string("report")])))
        client.call(
            .queueBind(
                QueueBind(
                    queue: "any-report", exchange: "amq.match",
                    arguments: ["x-match": .string("any"), "type": .string("report"), "format": .string("zip")])))
        client.publish(
            "a", exchange: "amq.match", routingKey: "ignored",
            properties: BasicProperties(headers: ["format": .string("pdf"), "type": .string("report")]))
        client.publish(
            "b", exchange: "amq.match", routingKey: "",
            properties: BasicProperties(headers: ["format": .string("zip")]))
        #expect(client.get("pdf") == ["1:get-ok #1 a left=0"])
        #expect(client.get("any-report") == ["1:get-ok #2 a left=1"])
        #expect(client.get("any-report") == ["1:get-ok #3 b left=0"])
    }
}
