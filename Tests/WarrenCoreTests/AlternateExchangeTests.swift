import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// The `alternate-exchange` argument: where an exchange sends what it cannot route.
@Suite struct AlternateExchangeTests {
    let vhost = makeVHost()

    @discardableResult
    func exchange(_ name: String, _ kind: ExchangeKind, ae: String? = nil) throws(BrokerError) -> Exchange {
        try vhost.declareExchange(
            name: name, type: kind.rawValue, passive: false, durable: false, autoDelete: false, isInternal: false,
            arguments: ae.map { ["alternate-exchange": .string($0)] } ?? [:])
    }

    @Test func argumentSetsTheAlternateExchange() throws {
        #expect(try exchange("main", .direct, ae: "ae").alternateExchange == "ae")
        #expect(try exchange("plain", .direct).alternateExchange == nil)
    }

    @Test func unroutableMessageGoesToTheAlternateExchangeOnly() throws {
        try exchange("ae", .fanout)
        try exchange("main", .direct, ae: "ae")
        try vhost.makeQueue("routed")
        try vhost.makeQueue("unrouted")
        try vhost.bindQueue("routed", to: "main", key: "k")
        try vhost.bindQueue("unrouted", to: "ae")
        #expect(try routedQueues(vhost, exchange: "main", routingKey: "k") == ["routed"])
        #expect(try routedQueues(vhost, exchange: "main", routingKey: "other") == ["unrouted"])
    }

    @Test func chainsOfAlternatesAreFollowedAndLoopsEnd() throws {
        try exchange("ae2", .fanout)
        try exchange("ae1", .direct, ae: "ae2")
        try exchange("main", .direct, ae: "ae1")
        try vhost.makeQueue("last")
        try vhost.bindQueue("last", to: "ae2")
        #expect(try routedQueues(vhost, exchange: "main", routingKey: "x") == ["last"])

        try exchange("l1", .direct, ae: "l2")
        try exchange("l2", .direct, ae: "l1")
        try exchange("selfish", .direct, ae: "selfish")
        #expect(try routedQueues(vhost, exchange: "l1", routingKey: "x") == [])
        #expect(try routedQueues(vhost, exchange: "selfish", routingKey: "x") == [])
    }

    @Test func missingAlternateExchangeRoutesNowhere() throws {
        try exchange("main", .direct, ae: "missing")
        #expect(try routedQueues(vhost, exchange: "main", routingKey: "x") == [])
    }

    @Test func exchangeBoundToAnotherIsNotUnroutableButTheOtherUsesItsOwnAlternate() throws {
        // As RabbitMQ: an exchange's alternate is used when that exchange itself routes nowhere.
        try exchange("ae-main", .fanout)
        try exchange("ae-inner", .fanout)
        try exchange("main", .fanout, ae: "ae-main")
        try exchange("inner", .direct, ae: "ae-inner")
        try vhost.bind(destination: "inner", source: "main", routingKey: "", arguments: [:])
        try vhost.makeQueue("qm")
        try vhost.makeQueue("qi")
        try vhost.bindQueue("qm", to: "ae-main")
        try vhost.bindQueue("qi", to: "ae-inner")
        #expect(try routedQueues(vhost, exchange: "main", routingKey: "x") == ["qi"])
    }

    @Test func mandatoryReturnsOnlyWhenTheAlternateFindsNoQueue() throws {
        let c = TestClient(vhost)
        c.openChannel()
        try exchange("ae", .direct)
        try exchange("main", .direct, ae: "ae")
        c.declareQueue("q")
        try vhost.bindQueue("q", to: "ae", key: "good")
        #expect(c.publish("a", exchange: "main", routingKey: "good", mandatory: true) == [])
        #expect(c.publish("b", exchange: "main", routingKey: "bad", mandatory: true) == ["1:return 312 b"])
        let got = c.send(.method(channel: 1, .basicGet(BasicGet(queue: "q", noAck: true))))
        // The message keeps the exchange it was published to.
        #expect(got.first?.message?.exchange == "main")
        #expect(got.first?.message?.bodyString == "a")
    }

    @Test func declareChecksTheArgumentAsRabbitMQDoes() throws {
        func refusal(_ body: () throws -> Void) -> String? {
            do {
                try body()
                return nil
            } catch {
                return (error as? BrokerError)?.text ?? "\(error)"
            }
        }
        #expect(
            refusal {
                try vhost.declareExchange(
                    name: "bad", type: "direct", passive: false, durable: false, autoDelete: false, isInternal: false,
                    arguments: ["alternate-exchange": .int64(3)])
            } == "PRECONDITION_FAILED - invalid type 'long' for arg 'alternate-exchange' in exchange 'bad' in vhost '/'"
        )
        try exchange("e", .direct, ae: "x")
        #expect(
            refusal { try exchange("e", .direct, ae: "y") }
                == "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'e' in vhost '/': "
                + "received 'y' but current is 'x'")
        #expect(
            refusal { try exchange("e", .direct) }
                == "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'e' in vhost '/': "
                + "received none but current is the value 'x' of type 'longstr'")
        try exchange("n", .direct)
        #expect(
            refusal { try exchange("n", .direct, ae: "x") }
                == "PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' for exchange 'n' in vhost '/': "
                + "received the value 'x' of type 'longstr' but current is none")
        #expect(refusal { try exchange("e", .direct, ae: "x") } == nil)
    }

    @Test func deadLettersFollowTheDeadLetterExchangesAlternate() throws {
        let c = TestClient(vhost)
        c.openChannel()
        try exchange("ae", .fanout)
        try exchange("dlx", .direct, ae: "ae")
        c.declareQueue("caught")
        try vhost.bindQueue("caught", to: "ae")
        c.call(.queueDeclare(QueueDeclare(queue: "src", arguments: ["x-dead-letter-exchange": .string("dlx")])))
        c.publish("m", routingKey: "src")
        _ = c.get("src")
        c.call(.basicReject(BasicReject(deliveryTag: 1, requeue: false)))
        let got = c.send(.method(channel: 1, .basicGet(BasicGet(queue: "caught", noAck: true))))
        #expect(got.first?.message?.bodyString == "m")
    }
}
