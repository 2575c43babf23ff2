import AMQPProtocol
import Benchmark
import NIOCore
import WarrenCore

/// Routing through a topic exchange with 10 000 bindings, each to its own queue, through the
/// vhost's public API (as `ChannelSession.publish` routes). 9 900 bindings are exact keys
/// ("region42.store17"), 100 are wildcards ("region42.#", "*.store17"); a key reaches two or
/// three queues.
func topicRoutingBenchmarks() {
    Benchmark("Topic route, 10 000 bindings") { benchmark in
        let vhost = VirtualHost(name: "bench")
        let exchange = try vhost.declareExchange(
            name: "bench.topic", type: "topic", passive: false, durable: false, autoDelete: false, isInternal: false,
            arguments: [:])
        for i in 0..<10_000 {
            let queue = "q\(i)"
            _ = try vhost.declareQueue(
                name: queue, passive: false, durable: false, exclusive: false, autoDelete: false, arguments: [:],
                sessionID: 0)
            let key: String
            switch i {
            case 0..<50: key = "region\(i).#"
            case 50..<100: key = "*.store\(i)"
            default: key = "region\(i % 100).store\(i / 100)"
            }
            try vhost.bind(queue: queue, exchange: "bench.topic", routingKey: key, arguments: [:], sessionID: 0)
        }
        let body = ByteBuffer(repeating: 0x78, count: 16)
        let messages = (0..<1000).map { i in
            Message(
                exchange: "bench.topic", routingKey: "region\(i % 100).store\(i % 97)", properties: .empty, body: body)
        }
        var matched: [MessageQueue] = []
        matched.reserveCapacity(16)
        var total = 0
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            matched.removeAll(keepingCapacity: true)
            vhost.route(messages[i % messages.count], via: exchange, into: &matched)
            total += matched.count
        }
        benchmark.stopMeasurement()
        precondition(total > 0, "no message was routed")
        blackHole(total)
    }

    Benchmark("Direct route, 10 000 bindings") { benchmark in
        let vhost = VirtualHost(name: "bench")
        let exchange = try vhost.declareExchange(
            name: "bench.direct", type: "direct", passive: false, durable: false, autoDelete: false,
            isInternal: false, arguments: [:])
        for i in 0..<10_000 {
            _ = try vhost.declareQueue(
                name: "q\(i)", passive: false, durable: false, exclusive: false, autoDelete: false, arguments: [:],
                sessionID: 0)
            try vhost.bind(
                queue: "q\(i)", exchange: "bench.direct", routingKey: "key\(i)", arguments: [:], sessionID: 0)
        }
        let body = ByteBuffer(repeating: 0x78, count: 16)
        let messages = (0..<1000).map { i in
            Message(exchange: "bench.direct", routingKey: "key\(i * 7)", properties: .empty, body: body)
        }
        var matched: [MessageQueue] = []
        var total = 0
        benchmark.startMeasurement()
        for i in benchmark.scaledIterations {
            matched.removeAll(keepingCapacity: true)
            vhost.route(messages[i % messages.count], via: exchange, into: &matched)
            total += matched.count
        }
        benchmark.stopMeasurement()
        precondition(total > 0, "no message was routed")
        blackHole(total)
    }
}
