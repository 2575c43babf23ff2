import AMQPProtocol
import Testing

@testable import WarrenCore

@Suite("Policies")
struct PolicyTests {
    private func policies(
        _ list: [PolicyDefinition], operator operatorList: [PolicyDefinition] = [], vhost: String = "/"
    ) throws -> VhostPolicies {
        var parameters = RuntimeParameters()
        for p in list { try parameters.setPolicy(p) }
        for p in operatorList { try parameters.setPolicy(p, operatorPolicy: true) }
        return VhostPolicies(vhost: vhost, parameters: parameters)
    }

    private func policy(
        _ name: String, _ pattern: String, _ definition: [String: JSONValue], priority: Int = 0,
        applyTo: String = "all"
    ) -> PolicyDefinition {
        PolicyDefinition(
            vhost: "/", name: name, pattern: pattern, applyTo: applyTo, definition: definition, priority: priority)
    }

    @Test func validationRefusesWhatRabbitMQRefuses() {
        func failure(_ definition: [String: JSONValue], operator op: Bool = false) -> String? {
            do {
                try PolicyValidation.validate(definition, operatorPolicy: op)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(failure(["message-ttl": .int(-1)]) == "Validation failed\n\n-1 is not a valid message TTL\n")
        #expect(failure(["expires": .int(0)]) == "Validation failed\n\n0 is not a valid queue expiry\n")
        #expect(
            failure(["max-length": .string("a")]) == "Validation failed\n\n<<\"a\">> is not a valid maximum length\n")
        #expect(failure(["overflow": .string("x")]) == "Validation failed\n\n<<\"x\">> is not a valid overflow value\n")
        #expect(
            failure(["message-ttl": .int(1), "foo": .int(1)])
                == "Validation failed\n\n[{<<\"foo\">>,1}] are not recognised policy settings\n")
        #expect(
            failure(["dead-letter-exchange": .string("x")], operator: true)
                == "Validation failed\n\n[{<<\"dead-letter-exchange\">>,<<\"x\">>}] are not recognised policy settings\n"
        )
        #expect(failure([:]) == "Validation failed\n\nno policy provided\n")
        #expect(
            failure(["ha-params": .int(2)])
                == "Validation failed\n\nha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown\n"
        )
        // The OpenStack operators' guide policy is accepted as it is.
        #expect(
            failure([
                "alternate-exchange": .string("unroutable"), "expires": .int(3_600_000), "ha-mode": .string("all"),
                "ha-promote-on-failure": .string("always"), "ha-promote-on-shutdown": .string("always"),
                "ha-sync-mode": .string("manual"), "message-ttl": .int(600_000),
                "queue-master-locator": .string("client-local"),
            ]) == nil)
        #expect(failure(["max-length": .int(10), "message-ttl": .int(5)], operator: true) == nil)
    }

    @Test func badPatternsAndTargetsAreRefused() {
        var parameters = RuntimeParameters()
        #expect(throws: PolicyError.invalidPattern("(")) {
            try parameters.setPolicy(policy("p", "(", ["max-length": .int(1)]))
        }
        #expect(throws: PolicyError.invalidTarget("foo")) {
            try parameters.setPolicy(policy("p", "^q", ["max-length": .int(1)], applyTo: "foo"))
        }
        #expect(throws: PolicyError.notFound) { try parameters.clearPolicy(vhost: "/", name: "p") }
    }

    @Test func highestPriorityMatchingPolicyApplies() throws {
        let set = try policies([
            policy("low", "^q", ["max-length": .int(5)]),
            policy("high", "^q", ["max-length": .int(7)], priority: 3, applyTo: "queues"),
            policy("ex", "^q", ["alternate-exchange": .string("ae")], priority: 9, applyTo: "exchanges"),
        ])
        #expect(set.policy(for: "q1", kind: .queues)?.name == "high")
        #expect(set.policy(for: "q1", kind: .exchanges)?.name == "ex")
        #expect(set.policy(for: "other", kind: .queues) == nil)
        #expect(set.policy(for: "my-q", kind: .queues) == nil)
        // Unanchored search, as RabbitMQ's re:run.
        let unanchored = try policies([policy("mid", "-q", ["max-length": .int(1)])])
        #expect(unanchored.policy(for: "my-q1", kind: .queues)?.name == "mid")
    }

    @Test func argumentsAndPoliciesCombineAsInRabbitMQ() throws {
        let set = try policies(
            [
                policy(
                    "p", ".*",
                    ["message-ttl": .int(1000), "max-length": .int(50), "overflow": .string("reject-publish")])
            ],
            operator: [policy("op", ".*", ["max-length": .int(20), "expires": .int(9000)])])
        let user = set.policy(for: "q", kind: .queues)
        let op = set.operatorPolicy(for: "q", kind: .queues)
        // Smallest of argument, policy and operator policy; the argument's overflow wins.
        let limits = QueueLimits(
            arguments: ["x-message-ttl": .int32(5000), "x-max-length": .int32(30), "x-overflow": .string("drop-head")],
            policy: user, operatorPolicy: op)
        #expect(limits.messageTTL == 1000)
        #expect(limits.maxLength == 20)
        #expect(limits.expires == 9000)
        #expect(limits.overflow == QueueLimits.Overflow.dropHead)
        let noArguments = QueueLimits(arguments: [:], policy: user, operatorPolicy: nil)
        #expect(noArguments.maxLength == 50)
        #expect(noArguments.overflow == QueueLimits.Overflow.rejectPublish)
        let smallerArgument = QueueLimits(arguments: ["x-message-ttl": .int32(10)], policy: user, operatorPolicy: op)
        #expect(smallerArgument.messageTTL == 10)
    }

    @Test func aPolicyAppliesToExistingQueuesAtOnce() throws {
        let vhost = VirtualHost(name: "/")
        let client = TestClient(vhost)
        client.openChannel()
        client.declareQueue("q")
        client.publish("1", "2", "3", "4", routingKey: "q")
        #expect(vhost.queues["q"]?.messageCount == 4)
        vhost.setPolicies(try policies([policy("len", "^q$", ["max-length": .int(2)])]))
        #expect(vhost.queues["q"]?.policyName == "len")
        #expect(vhost.queues["q"]?.messageCount == 2)
        #expect(deliveredBodies(client.consume("q", tag: "c", noAck: true)) == ["3", "4"])
        // Cleared: no limit any more.
        vhost.setPolicies(VhostPolicies())
        #expect(vhost.queues["q"]?.policyName == nil)
        #expect(vhost.queues["q"]?.limits.maxLength == nil)
    }

    @Test func newQueuesAndExchangesGetTheirPolicy() throws {
        let vhost = VirtualHost(name: "/")
        vhost.setPolicies(
            try policies([
                policy("ttl", "^t", ["message-ttl": .int(100)], applyTo: "queues"),
                policy("ae", "^t", ["alternate-exchange": .string("un")], priority: 1, applyTo: "exchanges"),
            ]))
        let client = TestClient(vhost)
        client.openChannel()
        client.declareQueue("tq")
        client.declareQueue("other")
        #expect(vhost.queues["tq"]?.limits.messageTTL == 100)
        #expect(vhost.queues["tq"]?.policyName == "ttl")
        #expect(vhost.queues["other"]?.policyName == nil)
        #expect(
            client.call(.exchangeDeclare(ExchangeDeclare(exchange: "tx", type: "fanout"))) == ["1:exchange.declare-ok"])
        #expect(vhost.exchanges["tx"]?.policyName == "ae")
    }

    @Test func aPolicyExpiryDeletesAnUnusedQueue() throws {
        let vhost = VirtualHost(name: "/")
        let client = TestClient(vhost)
        client.openChannel()
        client.declareQueue("gone")
        vhost.setPolicies(try policies([policy("exp", "^gone$", ["expires": .int(1000)])]))
        let start = vhost.queues["gone"]!.lastUsed
        vhost.tick(now: start + 500)
        #expect(vhost.queues["gone"] != nil)
        vhost.tick(now: start + 1001)
        #expect(vhost.queues["gone"] == nil)
    }

    @Test func operatorPoliciesRoundTripAsParameters() throws {
        let parameter = ParameterDefinition(
            vhost: "/", component: "operator_policy", name: "op",
            value: .object([
                "pattern": .string("^q"), "priority": .int(2), "apply-to": .string("queues"),
                "definition": .array([.array([.string("max-length"), .int(10)])]),
            ]))
        let policy = try #require(PolicyDefinition(operatorPolicyParameter: parameter))
        #expect(policy.definition == ["max-length": .int(10)])
        #expect(policy.priority == 2)
        #expect(policy.applyTo == "queues")
        var database = UserDatabase.seeded()
        try database.importDefinitions(Definitions(parameters: [parameter]))
        #expect(database.runtimeParameters.operatorPolicies == [policy])
        try database.deleteVhost("/")
        #expect(database.runtimeParameters.operatorPolicies.isEmpty)
    }
}

@Suite("Policies for dead-lettering and alternate exchanges")
struct PolicyRoutingTests {
    private func policies(_ list: [PolicyDefinition]) throws -> VhostPolicies {
        var parameters = RuntimeParameters()
        for p in list { try parameters.setPolicy(p) }
        return VhostPolicies(vhost: "/", parameters: parameters)
    }

    @Test func alternateExchangeFromAPolicyUnlessTheArgumentSaysOtherwise() throws {
        let vhost = makeVHost()
        for name in ["ae", "other-ae"] {
            try vhost.declareExchange(
                name: name, type: "fanout", passive: false, durable: false, autoDelete: false, isInternal: false,
                arguments: [:])
        }
        try vhost.declareExchange(
            name: "main", type: "direct", passive: false, durable: false, autoDelete: false, isInternal: false,
            arguments: [:])
        try vhost.declareExchange(
            name: "main-arg", type: "direct", passive: false, durable: false, autoDelete: false, isInternal: false,
            arguments: ["alternate-exchange": .string("other-ae")])
        try vhost.makeQueue("unrouted")
        try vhost.makeQueue("other")
        try vhost.bindQueue("unrouted", to: "ae")
        try vhost.bindQueue("other", to: "other-ae")
        #expect(try routedQueues(vhost, exchange: "main", routingKey: "x") == [])
        vhost.setPolicies(
            try policies([
                PolicyDefinition(
                    vhost: "/", name: "ae", pattern: "^main", applyTo: "exchanges",
                    definition: ["alternate-exchange": .string("ae")])
            ]))
        #expect(try routedQueues(vhost, exchange: "main", routingKey: "x") == ["unrouted"])
        #expect(try routedQueues(vhost, exchange: "main-arg", routingKey: "x") == ["other"])
        vhost.setPolicies(VhostPolicies())
        #expect(try routedQueues(vhost, exchange: "main", routingKey: "x") == [])
    }

    @Test func deadLetterExchangeFromAPolicy() throws {
        let vhost = VirtualHost(name: "/")
        let client = TestClient(vhost)
        client.openChannel()
        client.declareQueue("work")
        client.declareQueue("dead")
        vhost.setPolicies(
            try policies([
                PolicyDefinition(
                    vhost: "/", name: "dlx", pattern: "^work$", applyTo: "queues",
                    definition: ["dead-letter-exchange": .string(""), "dead-letter-routing-key": .string("dead")])
            ]))
        #expect(vhost.queues["work"]?.limits.deadLetterExchange == "")
        #expect(vhost.queues["work"]?.limits.deadLetterRoutingKey == "dead")
        client.publish("m", routingKey: "work")
        #expect(client.get("work").first?.contains("get-ok") == true)
        client.call(.basicReject(BasicReject(deliveryTag: 1, requeue: false)))
        #expect(vhost.queues["dead"]?.messageCount == 1)
    }
}
