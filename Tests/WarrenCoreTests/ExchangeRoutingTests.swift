import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// Direct, fanout and default exchange routing, and exchange-to-exchange bindings.
@Suite struct ExchangeRoutingTests {
    @Test func directExchangeRoutesOnlyToExactlyEqualKeys() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("d", .direct)
        for q in ["q1", "q2", "q3"] { try vhost.makeQueue(q) }
        try vhost.bindQueue("q1", to: "d", key: "red")
        try vhost.bindQueue("q2", to: "d", key: "red")
        try vhost.bindQueue("q3", to: "d", key: "green")
        try vhost.bindQueue("q3", to: "d", key: "")
        #expect(try routedQueues(vhost, exchange: "d", routingKey: "red") == ["q1", "q2"])
        #expect(try routedQueues(vhost, exchange: "d", routingKey: "green") == ["q3"])
        #expect(try routedQueues(vhost, exchange: "d", routingKey: "") == ["q3"])
        #expect(try routedQueues(vhost, exchange: "d", routingKey: "Red") == [])
        #expect(try routedQueues(vhost, exchange: "d", routingKey: "red.x") == [])
        #expect(try routedQueues(vhost, exchange: "d", routingKey: "#") == [])
    }

    @Test func directExchangeUnbindRemovesOnlyThatKey() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("d", .direct)
        try vhost.makeQueue("q")
        try vhost.bindQueue("q", to: "d", key: "a")
        try vhost.bindQueue("q", to: "d", key: "b")
        try vhost.unbind(queue: "q", exchange: "d", routingKey: "a", arguments: [:], sessionID: 0)
        #expect(try routedQueues(vhost, exchange: "d", routingKey: "a") == [])
        #expect(try routedQueues(vhost, exchange: "d", routingKey: "b") == ["q"])
    }

    @Test func bindingTheSameQueueTwiceWithTheSameKeyIsOneBinding() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("d", .direct)
        try vhost.makeQueue("q")
        try vhost.bindQueue("q", to: "d", key: "a")
        try vhost.bindQueue("q", to: "d", key: "a")
        #expect(vhost.exchanges["d"]!.bindings.count == 1)
        try vhost.unbind(queue: "q", exchange: "d", routingKey: "a", arguments: [:], sessionID: 0)
        #expect(try routedQueues(vhost, exchange: "d", routingKey: "a") == [])
    }

    @Test func fanoutExchangeIgnoresTheRoutingKey() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("f", .fanout)
        try vhost.makeQueue("q1")
        try vhost.makeQueue("q2")
        try vhost.makeQueue("unbound")
        try vhost.bindQueue("q1", to: "f", key: "whatever")
        try vhost.bindQueue("q2", to: "f")
        #expect(try routedQueues(vhost, exchange: "f", routingKey: "") == ["q1", "q2"])
        #expect(try routedQueues(vhost, exchange: "f", routingKey: "x.y.z") == ["q1", "q2"])
    }

    @Test func fanoutQueueBoundUnderTwoKeysStaysBoundAfterOneUnbind() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("f", .fanout)
        try vhost.makeQueue("q")
        try vhost.bindQueue("q", to: "f", key: "a")
        try vhost.bindQueue("q", to: "f", key: "b")
        try vhost.unbind(queue: "q", exchange: "f", routingKey: "a", arguments: [:], sessionID: 0)
        #expect(try routedQueues(vhost, exchange: "f") == ["q"])
        try vhost.unbind(queue: "q", exchange: "f", routingKey: "b", arguments: [:], sessionID: 0)
        #expect(try routedQueues(vhost, exchange: "f") == [])
    }

    @Test func defaultExchangeRoutesToTheQueueNamedByTheKey() throws {
        let vhost = makeVHost()
        try vhost.makeQueue("orders")
        #expect(try routedQueues(vhost, exchange: "", routingKey: "orders") == ["orders"])
        #expect(try routedQueues(vhost, exchange: "", routingKey: "nope") == [])
        #expect(try routedQueues(vhost, exchange: "", routingKey: "") == [])
    }

    @Test func defaultExchangeCannotBeBoundDeclaredOrDeleted() {
        let vhost = makeVHost()
        let client = TestClient(vhost)
        client.openChannel()
        client.declareQueue("q")
        #expect(
            client.call(.queueBind(QueueBind(queue: "q", exchange: "", routingKey: "x"))) == [
                "1:channel.close 403 50/20"
            ])
        client.openChannel(2)
        #expect(
            client.call(.exchangeDeclare(ExchangeDeclare(exchange: "", type: "direct")), channel: 2)
                == ["2:channel.close 403 40/10"])
        client.openChannel(3)
        #expect(client.call(.exchangeDelete(ExchangeDelete(exchange: "")), channel: 3) == ["3:channel.close 403 40/20"])
    }

    @Test func defaultExchangeStopsRoutingToADeletedQueue() throws {
        let vhost = makeVHost()
        let q = try vhost.makeQueue("q")
        vhost.deleteQueue(q)
        #expect(try routedQueues(vhost, exchange: "", routingKey: "q") == [])
    }

    @Test func predeclaredExchangesExistWithTheirTypes() throws {
        let vhost = makeVHost()
        #expect(try vhost.exchange(named: "amq.direct").kind == .direct)
        #expect(try vhost.exchange(named: "amq.fanout").kind == .fanout)
        #expect(try vhost.exchange(named: "amq.topic").kind == .topic)
        #expect(try vhost.exchange(named: "amq.headers").kind == .headers)
        #expect(try vhost.exchange(named: "amq.match").kind == .headers)
        #expect(try vhost.exchange(named: "amq.direct").durable)
    }

    // MARK: Exchange-to-exchange

    @Test func exchangeToExchangeBindingForwardsByTheSourceRules() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("src", .topic)
        try vhost.makeExchange("dst", .direct)
        try vhost.makeQueue("q")
        try vhost.bindQueue("q", to: "dst", key: "a.b")
        try vhost.bind(destination: "dst", source: "src", routingKey: "a.*", arguments: [:])
        #expect(try routedQueues(vhost, exchange: "src", routingKey: "a.b") == ["q"])
        // Matches src's pattern but not dst's key.
        #expect(try routedQueues(vhost, exchange: "src", routingKey: "a.c") == [])
        // Matches dst's key only if it first matches src's pattern.
        try vhost.unbind(destination: "dst", source: "src", routingKey: "a.*", arguments: [:])
        #expect(try routedQueues(vhost, exchange: "src", routingKey: "a.b") == [])
    }

    @Test func exchangeChainOfThreeDelivers() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("e1", .fanout)
        try vhost.makeExchange("e2", .fanout)
        try vhost.makeExchange("e3", .direct)
        try vhost.makeQueue("q")
        try vhost.bind(destination: "e2", source: "e1", routingKey: "", arguments: [:])
        try vhost.bind(destination: "e3", source: "e2", routingKey: "", arguments: [:])
        try vhost.bindQueue("q", to: "e3", key: "k")
        #expect(try routedQueues(vhost, exchange: "e1", routingKey: "k") == ["q"])
        #expect(try routedQueues(vhost, exchange: "e1", routingKey: "other") == [])
    }

    @Test func exchangeCycleDeliversOncePerQueue() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("e1", .fanout)
        try vhost.makeExchange("e2", .fanout)
        try vhost.makeQueue("q1")
        try vhost.makeQueue("q2")
        try vhost.bind(destination: "e2", source: "e1", routingKey: "", arguments: [:])
        try vhost.bind(destination: "e1", source: "e2", routingKey: "", arguments: [:])
        try vhost.bindQueue("q1", to: "e1")
        try vhost.bindQueue("q2", to: "e2")

        let client = TestClient(vhost)
        client.openChannel()
        client.publish("m", exchange: "e1", routingKey: "k")
        client.publish("n", exchange: "e2", routingKey: "k")
        #expect(client.get("q1") == ["1:get-ok #1 m left=1"])
        #expect(client.get("q1") == ["1:get-ok #2 n left=0"])
        #expect(client.get("q1") == ["1:basic.get-empty"])
        #expect(client.get("q2") == ["1:get-ok #3 m left=1"])
        #expect(client.get("q2") == ["1:get-ok #4 n left=0"])
        #expect(client.get("q2") == ["1:basic.get-empty"])
    }

    @Test func exchangeBoundToItselfDeliversOnce() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("e", .fanout)
        try vhost.makeQueue("q")
        try vhost.bind(destination: "e", source: "e", routingKey: "", arguments: [:])
        try vhost.bindQueue("q", to: "e")
        #expect(try routedQueues(vhost, exchange: "e") == ["q"])
    }

    @Test func queueReachableByTwoPathsReceivesTheMessageOnce() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("top", .fanout)
        try vhost.makeExchange("left", .direct)
        try vhost.makeExchange("right", .topic)
        try vhost.makeQueue("q")
        try vhost.bind(destination: "left", source: "top", routingKey: "", arguments: [:])
        try vhost.bind(destination: "right", source: "top", routingKey: "", arguments: [:])
        try vhost.bindQueue("q", to: "left", key: "k")
        try vhost.bindQueue("q", to: "right", key: "#")
        try vhost.bindQueue("q", to: "top")

        let client = TestClient(vhost)
        client.openChannel()
        client.publish("once", exchange: "top", routingKey: "k")
        #expect(client.get("q") == ["1:get-ok #1 once left=0"])
        #expect(client.get("q") == ["1:basic.get-empty"])
    }

    @Test func diamondOfExchangesDeliversOnce() throws {
        // e1 -> e2 -> e4, e1 -> e3 -> e4: e4 is reached twice but routes once.
        let vhost = makeVHost()
        for e in ["e1", "e2", "e3", "e4"] { try vhost.makeExchange(e, .fanout) }
        try vhost.makeQueue("q")
        try vhost.bind(destination: "e2", source: "e1", routingKey: "", arguments: [:])
        try vhost.bind(destination: "e3", source: "e1", routingKey: "", arguments: [:])
        try vhost.bind(destination: "e4", source: "e2", routingKey: "", arguments: [:])
        try vhost.bind(destination: "e4", source: "e3", routingKey: "", arguments: [:])
        try vhost.bindQueue("q", to: "e4")
        let client = TestClient(vhost)
        client.openChannel()
        client.publish("m", exchange: "e1", routingKey: "")
        #expect(client.get("q") == ["1:get-ok #1 m left=0"])
    }

    @Test func deletingADestinationExchangeRemovesTheBindingToIt() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("src", .fanout)
        try vhost.makeExchange("dst", .fanout)
        try vhost.makeQueue("q")
        try vhost.bind(destination: "dst", source: "src", routingKey: "", arguments: [:])
        try vhost.bindQueue("q", to: "dst")
        try vhost.deleteExchange(name: "dst", ifUnused: false)
        #expect(vhost.exchanges["src"]!.bindings.isEmpty)
        #expect(try routedQueues(vhost, exchange: "src") == [])
    }

    @Test func exchangeBindToMissingExchangeIsNotFound() {
        let vhost = makeVHost()
        let client = TestClient(vhost)
        client.openChannel()
        #expect(
            client.call(.exchangeBind(ExchangeBind(destination: "nope", source: "amq.fanout")))
                == ["1:channel.close 404 40/30"])
        client.openChannel(2)
        #expect(
            client.call(.exchangeBind(ExchangeBind(destination: "amq.fanout", source: "nope")), channel: 2)
                == ["2:channel.close 404 40/30"])
    }

    @Test func publishThroughExchangeBindingReachesConsumer() {
        let vhost = makeVHost()
        let client = TestClient(vhost)
        client.openChannel()
        #expect(
            client.call([
                .exchangeDeclare(ExchangeDeclare(exchange: "src", type: "direct")),
                .exchangeDeclare(ExchangeDeclare(exchange: "dst", type: "fanout")),
                .exchangeBind(ExchangeBind(destination: "dst", source: "src", routingKey: "k")),
                .queueDeclare(QueueDeclare(queue: "q")),
                .queueBind(QueueBind(queue: "q", exchange: "dst")),
            ]) == [
                "1:exchange.declare-ok", "1:exchange.declare-ok", "1:exchange.bind-ok", "1:queue.declare-ok q 0 0",
                "1:queue.bind-ok",
            ])
        #expect(client.publish("hit", exchange: "src", routingKey: "k") == [])
        #expect(client.publish("miss", exchange: "src", routingKey: "j", mandatory: true) == ["1:return 312 miss"])
        #expect(client.get("q") == ["1:get-ok #1 hit left=0"])
    }

    @Test func bindingArgumentsAreComparedRegardlessOfKeyOrderAsInRabbitMQ() throws {
        // rabbit_binding sorts binding arguments (rabbit_misc:sort_field_table) before storing
        // or removing a binding, so {a, b} and {b, a} name the same binding.
        let vhost = makeVHost()
        try vhost.makeExchange("h", .headers)
        try vhost.makeQueue("q")
        try vhost.bindQueue("q", to: "h", arguments: ["x-match": .string("any"), "a": .int32(1), "b": .int32(2)])
        try vhost.unbind(
            queue: "q", exchange: "h", routingKey: "",
            arguments: ["b": .int32(2), "a": .int32(1), "x-match": .string("any")], sessionID: 0)
        let routed = try routedQueues(vhost, exchange: "h", headers: ["a": .int32(1)])
        #expect(routed == [])
        #expect(vhost.exchanges["h"]!.bindings.isEmpty)
    }
}
