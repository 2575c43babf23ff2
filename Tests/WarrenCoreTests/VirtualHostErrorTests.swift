import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// Declaring, deleting and binding: the errors a client sees and the entities that come and go.
@Suite struct VirtualHostErrorTests {
    let vhost = makeVHost()

    func client(_ id: UInt64 = 1) -> TestClient {
        let c = TestClient(vhost, id: id)
        c.openChannel()
        return c
    }

    // MARK: Exchanges

    @Test func passiveDeclareOfMissingExchangeClosesTheChannelWith404() {
        let c = client()
        #expect(
            c.call(.exchangeDeclare(ExchangeDeclare(exchange: "nope", type: "direct", passive: true)))
                == ["1:channel.close 404 40/10"])
        // The channel is closed: further methods on it are ignored.
        #expect(c.call(.queueDeclare(QueueDeclare(queue: "q"))) == [])
        // Other channels are unaffected.
        c.openChannel(2)
        #expect(c.call(.queueDeclare(QueueDeclare(queue: "q")), channel: 2) == ["2:queue.declare-ok q 0 0"])
    }

    @Test func passiveDeclareOfExistingExchangeSucceedsWhateverTheArguments() {
        let c = client()
        #expect(
            c.call(.exchangeDeclare(ExchangeDeclare(exchange: "amq.topic", type: "fanout", passive: true)))
                == ["1:exchange.declare-ok"])
    }

    @Test func redeclaringExchangeWithAnotherTypeFailsWith406() {
        let c = client()
        #expect(c.call(.exchangeDeclare(ExchangeDeclare(exchange: "e", type: "direct"))) == ["1:exchange.declare-ok"])
        #expect(c.call(.exchangeDeclare(ExchangeDeclare(exchange: "e", type: "direct"))) == ["1:exchange.declare-ok"])
        #expect(
            c.call(.exchangeDeclare(ExchangeDeclare(exchange: "e", type: "topic"))) == ["1:channel.close 406 40/10"])
        #expect(vhost.exchanges["e"]?.kind == .direct)
    }

    @Test func redeclaringExchangeWithOtherFlagsFailsWith406() {
        let c = client()
        c.call(.exchangeDeclare(ExchangeDeclare(exchange: "e", type: "fanout", durable: true)))
        #expect(
            c.call(.exchangeDeclare(ExchangeDeclare(exchange: "e", type: "fanout", durable: false)))
                == ["1:channel.close 406 40/10"])
        c.openChannel(2)
        #expect(
            c.call(
                .exchangeDeclare(ExchangeDeclare(exchange: "e", type: "fanout", durable: true, autoDelete: true)),
                channel: 2)
                == ["2:channel.close 406 40/10"])
        c.openChannel(3)
        #expect(
            c.call(
                .exchangeDeclare(ExchangeDeclare(exchange: "e", type: "fanout", durable: true, internal: true)),
                channel: 3)
                == ["3:channel.close 406 40/10"])
    }

    @Test func declaringExchangeWithAmqPrefixIsRefusedWith403() {
        let c = client()
        #expect(
            c.call(.exchangeDeclare(ExchangeDeclare(exchange: "amq.custom", type: "direct")))
                == ["1:channel.close 403 40/10"])
        #expect(vhost.exchanges["amq.custom"] == nil)
    }

    @Test func redeclaringAPredeclaredAmqExchangeWithItsOwnPropertiesSucceedsAsInRabbitMQ() {
        // RabbitMQ checks the amq. prefix only when the exchange does not exist yet
        // (rabbit_channel: lookup first, check_name only on not_found), so clients that
        // "ensure" amq.topic with its real properties get declare-ok.
        let c = client()
        #expect(
            c.call(.exchangeDeclare(ExchangeDeclare(exchange: "amq.topic", type: "topic", durable: true)))
                == ["1:exchange.declare-ok"])
        // With other properties it is an inequivalent-argument error, not a name error.
        c.openChannel(2)
        #expect(
            c.call(.exchangeDeclare(ExchangeDeclare(exchange: "amq.topic", type: "topic", durable: false)), channel: 2)
                == ["2:channel.close 406 40/10"])
    }

    @Test func declaringQueueWithAmqPrefixIsRefusedWith403() {
        let c = client()
        #expect(c.call(.queueDeclare(QueueDeclare(queue: "amq.mine"))) == ["1:channel.close 403 50/10"])
    }

    @Test func unknownExchangeTypeClosesTheConnectionWith503() {
        let c = client()
        #expect(
            c.call(.exchangeDeclare(ExchangeDeclare(exchange: "e", type: "x-no-such-type")))
                == ["connection.close 503 40/10"])
        // After a connection error nothing more is processed.
        #expect(c.call(.queueDeclare(QueueDeclare(queue: "q"))) == [])
        #expect(c.call(.channelOpen(ChannelOpen()), channel: 2) == [])
    }

    @Test func deleteIfUnusedRefusesAnExchangeWithBindings() {
        let c = client()
        c.call([
            .exchangeDeclare(ExchangeDeclare(exchange: "e", type: "fanout")),
            .queueDeclare(QueueDeclare(queue: "q")),
            .queueBind(QueueBind(queue: "q", exchange: "e")),
        ])
        #expect(c.call(.exchangeDelete(ExchangeDelete(exchange: "e", ifUnused: true))) == ["1:channel.close 406 40/20"])
        #expect(vhost.exchanges["e"] != nil)
        c.openChannel(2)
        #expect(c.call(.queueUnbind(QueueUnbind(queue: "q", exchange: "e")), channel: 2) == ["2:queue.unbind-ok"])
        #expect(
            c.call(.exchangeDelete(ExchangeDelete(exchange: "e", ifUnused: true)), channel: 2) == [
                "2:exchange.delete-ok"
            ])
        #expect(vhost.exchanges["e"] == nil)
    }

    @Test func deletingAnExchangeRemovesItsBindingsAndAMissingOneIsFine() {
        let c = client()
        c.call([
            .exchangeDeclare(ExchangeDeclare(exchange: "e", type: "fanout")),
            .queueDeclare(QueueDeclare(queue: "q")),
            .queueBind(QueueBind(queue: "q", exchange: "e")),
        ])
        #expect(c.call(.exchangeDelete(ExchangeDelete(exchange: "e"))) == ["1:exchange.delete-ok"])
        #expect(c.call(.exchangeDelete(ExchangeDelete(exchange: "e"))) == ["1:exchange.delete-ok"])
        #expect(
            c.call(.exchangeDeclare(ExchangeDeclare(exchange: "e", type: "fanout", passive: true)))
                == ["1:channel.close 404 40/10"])
        // A publish to the deleted exchange is a 404 channel error.
        c.openChannel(2)
        #expect(c.publish("x", exchange: "e", routingKey: "", channel: 2) == ["2:channel.close 404 60/40"])
    }

    @Test func predeclaredExchangesCannotBeDeleted() {
        let c = client()
        #expect(c.call(.exchangeDelete(ExchangeDelete(exchange: "amq.direct"))) == ["1:channel.close 403 40/20"])
        #expect(vhost.exchanges["amq.direct"] != nil)
    }

    @Test func autoDeleteExchangeIsRemovedWithItsLastBinding() {
        let c = client()
        c.call([
            .exchangeDeclare(ExchangeDeclare(exchange: "ad", type: "direct", autoDelete: true)),
            .queueDeclare(QueueDeclare(queue: "q1")),
            .queueDeclare(QueueDeclare(queue: "q2")),
        ])
        // Never bound: it stays.
        #expect(vhost.exchanges["ad"] != nil)
        c.call([
            .queueBind(QueueBind(queue: "q1", exchange: "ad", routingKey: "a")),
            .queueBind(QueueBind(queue: "q2", exchange: "ad", routingKey: "b")),
        ])
        c.call(.queueUnbind(QueueUnbind(queue: "q1", exchange: "ad", routingKey: "a")))
        #expect(vhost.exchanges["ad"] != nil)
        #expect(
            c.call(.queueUnbind(QueueUnbind(queue: "q2", exchange: "ad", routingKey: "b"))) == ["1:queue.unbind-ok"])
        #expect(vhost.exchanges["ad"] == nil)
        #expect(
            c.call(.exchangeDeclare(ExchangeDeclare(exchange: "ad", type: "direct", passive: true)))
                == ["1:channel.close 404 40/10"])
    }

    @Test func autoDeleteExchangeIsRemovedWhenItsLastBoundQueueIsDeleted() {
        let c = client()
        c.call([
            .exchangeDeclare(ExchangeDeclare(exchange: "ad", type: "fanout", autoDelete: true)),
            .queueDeclare(QueueDeclare(queue: "q")),
            .queueBind(QueueBind(queue: "q", exchange: "ad")),
        ])
        #expect(c.call(.queueDelete(QueueDelete(queue: "q"))) == ["1:queue.delete-ok 0"])
        #expect(vhost.exchanges["ad"] == nil)
    }

    @Test func autoDeleteExchangeIsRemovedWhenItsLastExchangeBindingGoes() throws {
        try vhost.makeExchange("ad", .fanout, autoDelete: true)
        try vhost.makeExchange("dst", .fanout)
        try vhost.bind(destination: "dst", source: "ad", routingKey: "", arguments: [:])
        try vhost.deleteExchange(name: "dst", ifUnused: false)
        #expect(vhost.exchanges["ad"] == nil)
    }

    @Test func autoDeleteExchangesCascadeAlongExchangeBindings() throws {
        // ad1 -> ad2 -> q: deleting q empties ad2, whose removal empties ad1.
        try vhost.makeExchange("ad1", .fanout, autoDelete: true)
        try vhost.makeExchange("ad2", .fanout, autoDelete: true)
        let q = try vhost.makeQueue("q")
        try vhost.bind(destination: "ad2", source: "ad1", routingKey: "", arguments: [:])
        try vhost.bindQueue("q", to: "ad2")
        vhost.deleteQueue(q)
        #expect(vhost.exchanges["ad2"] == nil)
        #expect(vhost.exchanges["ad1"] == nil)
    }

    // MARK: Queues

    @Test func passiveDeclareOfMissingQueueClosesTheChannelWith404() {
        let c = client()
        #expect(c.call(.queueDeclare(QueueDeclare(queue: "nope", passive: true))) == ["1:channel.close 404 50/10"])
    }

    @Test func queueDeclareOkReportsMessagesAndConsumers() {
        let c = client()
        c.declareQueue("q")
        c.publish("a", "b", routingKey: "q")
        #expect(c.call(.queueDeclare(QueueDeclare(queue: "q", passive: true))) == ["1:queue.declare-ok q 2 0"])
        c.openChannel(2)
        _ = c.call(.basicQos(BasicQos(prefetchCount: 1)), channel: 2)
        _ = c.consume("q", tag: "c", channel: 2)
        #expect(c.call(.queueDeclare(QueueDeclare(queue: "q"))) == ["1:queue.declare-ok q 1 1"])
    }

    @Test func serverNamedQueueGetsAnAmqGenName() {
        let c = client()
        let out = c.call(.queueDeclare(QueueDeclare(queue: "", exclusive: true)))
        #expect(out.count == 1)
        #expect(out.first?.hasPrefix("1:queue.declare-ok amq.gen-") == true)
        let name = out.first!.split(separator: " ")[1]
        #expect(name.count == "amq.gen-".count + 22)
        #expect(vhost.queues[String(name)] != nil)
    }

    @Test func exclusiveQueueOfAnotherSessionIsLockedWith405() {
        let owner = client(1)
        owner.declareQueue("ex", exclusive: true)
        let other = client(2)
        let attempts: [(AMQPMethod, String)] = [
            (.queueDeclare(QueueDeclare(queue: "ex", exclusive: true)), "50/10"),
            (.queueDeclare(QueueDeclare(queue: "ex")), "50/10"),
            (.queueDeclare(QueueDeclare(queue: "ex", passive: true)), "50/10"),
            (.basicConsume(BasicConsume(queue: "ex")), "60/20"),
            (.basicGet(BasicGet(queue: "ex")), "60/70"),
            (.queueBind(QueueBind(queue: "ex", exchange: "amq.direct")), "50/20"),
            (.queuePurge(QueuePurge(queue: "ex")), "50/30"),
            (.queueDelete(QueueDelete(queue: "ex")), "50/40"),
        ]
        for (i, (method, ids)) in attempts.enumerated() {
            let channel = UInt16(10 + i)
            other.openChannel(channel)
            #expect(other.call(method, channel: channel) == ["\(channel):channel.close 405 \(ids)"], "\(method.name)")
        }
        #expect(vhost.queues["ex"] != nil)
        // Publishing to it is allowed to anyone.
        other.openChannel(30)
        #expect(other.publish("hi", routingKey: "ex", channel: 30) == [])
        #expect(owner.get("ex") == ["1:get-ok #1 hi left=0"])
    }

    @Test func redeclaringWithDifferentExclusivityIsLocked() {
        let c = client()
        c.declareQueue("shared")
        #expect(c.call(.queueDeclare(QueueDeclare(queue: "shared", exclusive: true))) == ["1:channel.close 405 50/10"])
        c.openChannel(2)
        c.declareQueue("mine", channel: 2, exclusive: true)
        #expect(c.call(.queueDeclare(QueueDeclare(queue: "mine")), channel: 2) == ["2:channel.close 405 50/10"])
    }

    @Test(arguments: [
        QueueDeclare(queue: "q", durable: true),
        QueueDeclare(queue: "q", autoDelete: true),
        QueueDeclare(queue: "q", arguments: ["x-message-ttl": .int32(1000)]),
        QueueDeclare(queue: "q", arguments: ["x-max-length": .int32(5)]),
    ])
    func queueRedeclareWithDifferentPropertiesFailsWith406(_ redeclare: QueueDeclare) {
        let c = client()
        c.declareQueue("q")
        #expect(c.call(.queueDeclare(redeclare)) == ["1:channel.close 406 50/10"])
    }

    @Test func queueRedeclareWithSameOrIrrelevantArgumentsSucceeds() {
        let c = client()
        #expect(
            c.call(.queueDeclare(QueueDeclare(queue: "q", arguments: ["x-message-ttl": .int32(1000)])))
                == ["1:queue.declare-ok q 0 0"])
        #expect(
            c.call(
                .queueDeclare(
                    QueueDeclare(queue: "q", arguments: ["x-message-ttl": .int32(1000), "x-custom": .string("v")])))
                == ["1:queue.declare-ok q 0 0"])
    }

    @Test func autoDeleteQueueStaysUntilItHasHadAConsumer() {
        let c = client()
        c.declareQueue("ad", autoDelete: true)
        c.publish("m", routingKey: "ad")
        #expect(c.get("ad", noAck: true) == ["1:get-ok #1 m left=0"])
        #expect(vhost.queues["ad"] != nil)
    }

    @Test func autoDeleteQueueIsRemovedAfterItsLastConsumerCancels() {
        let c = client()
        c.declareQueue("ad", autoDelete: true)
        _ = c.consume("ad", tag: "c1")
        _ = c.consume("ad", tag: "c2")
        #expect(c.call(.basicCancel(BasicCancel(consumerTag: "c1"))) == ["1:basic.cancel-ok c1"])
        #expect(vhost.queues["ad"] != nil)
        #expect(c.call(.basicCancel(BasicCancel(consumerTag: "c2"))) == ["1:basic.cancel-ok c2"])
        #expect(vhost.queues["ad"] == nil)
        #expect(c.call(.queueDeclare(QueueDeclare(queue: "ad", passive: true))) == ["1:channel.close 404 50/10"])
    }

    @Test func autoDeleteQueueIsRemovedWhenItsConsumersChannelCloses() {
        let c = client()
        c.declareQueue("ad", autoDelete: true)
        c.openChannel(2)
        _ = c.consume("ad", tag: "c", channel: 2)
        #expect(c.call(.channelClose(ChannelClose()), channel: 2) == ["2:channel.close-ok"])
        #expect(vhost.queues["ad"] == nil)
    }

    @Test func exclusiveQueuesAreDeletedWhenTheirSessionCloses() {
        let owner = client(1)
        owner.declareQueue("ex1", exclusive: true)
        owner.declareQueue("ex2", exclusive: true)
        owner.declareQueue("shared")
        owner.call(.queueBind(QueueBind(queue: "ex1", exchange: "amq.fanout")))
        owner.close()
        #expect(vhost.queues["ex1"] == nil)
        #expect(vhost.queues["ex2"] == nil)
        #expect(vhost.queues["shared"] != nil)
        #expect(vhost.exchanges["amq.fanout"]!.bindings.isEmpty)
        #expect(vhost.sessions[1] == nil)
        // The name is free again for another connection.
        let other = client(2)
        other.declareQueue("ex1", exclusive: true)
    }

    @Test func queueDeleteReportsTheMessagesItDropped() {
        let c = client()
        c.declareQueue("q")
        c.publish("a", "b", "c", routingKey: "q")
        #expect(c.call(.queueDelete(QueueDelete(queue: "q"))) == ["1:queue.delete-ok 3"])
        #expect(c.call(.queueDelete(QueueDelete(queue: "q"))) == ["1:queue.delete-ok 0"])
    }

    @Test func queueDeleteIfEmptyAndIfUnusedRefuseWith406() {
        let c = client()
        c.declareQueue("q")
        c.publish("a", routingKey: "q")
        #expect(c.call(.queueDelete(QueueDelete(queue: "q", ifEmpty: true))) == ["1:channel.close 406 50/40"])
        c.openChannel(2)
        _ = c.consume("q", tag: "c", channel: 2)
        c.openChannel(3)
        #expect(
            c.call(.queueDelete(QueueDelete(queue: "q", ifUnused: true)), channel: 3) == ["3:channel.close 406 50/40"])
        #expect(vhost.queues["q"] != nil)
    }

    @Test func purgeDropsReadyMessagesAndReportsHowMany() {
        let c = client()
        c.declareQueue("q")
        c.publish("a", "b", routingKey: "q")
        #expect(c.call(.queuePurge(QueuePurge(queue: "q"))) == ["1:queue.purge-ok 2"])
        #expect(c.get("q") == ["1:basic.get-empty"])
    }

    @Test func bindingAMissingQueueOrExchangeIsNotFound() {
        let c = client()
        #expect(c.call(.queueBind(QueueBind(queue: "nope", exchange: "amq.direct"))) == ["1:channel.close 404 50/20"])
        c.openChannel(2)
        c.declareQueue("q", channel: 2)
        #expect(
            c.call(.queueBind(QueueBind(queue: "q", exchange: "nope")), channel: 2) == ["2:channel.close 404 50/20"])
    }

    @Test func unbindingWhatDoesNotExistSucceeds() {
        let c = client()
        c.declareQueue("q")
        #expect(
            c.call(.queueUnbind(QueueUnbind(queue: "q", exchange: "amq.direct", routingKey: "never"))) == [
                "1:queue.unbind-ok"
            ])
        #expect(c.call(.queueUnbind(QueueUnbind(queue: "nope", exchange: "nope"))) == ["1:queue.unbind-ok"])
    }

    @Test func noWaitDeclaresProduceNoReply() {
        let c = client()
        #expect(
            c.call([
                .exchangeDeclare(ExchangeDeclare(exchange: "e", type: "direct", noWait: true)),
                .queueDeclare(QueueDeclare(queue: "q", noWait: true)),
                .queueBind(QueueBind(queue: "q", exchange: "e", routingKey: "k", noWait: true)),
            ]) == [])
        #expect(c.publish("m", exchange: "e", routingKey: "k") == [])
        #expect(c.get("q") == ["1:get-ok #1 m left=0"])
    }
}
