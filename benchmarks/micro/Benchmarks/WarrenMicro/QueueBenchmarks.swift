import AMQPProtocol
import Benchmark
import NIOCore
import WarrenCore

/// A queue's own work, then the broker core's whole path for a message: publish, route,
/// enqueue, deliver to a consumer, hand the delivery to the connection.
func queueBenchmarks() {
    Benchmark("Queue enqueue + dequeue (transient)") { benchmark in
        let vhost = VirtualHost(name: "bench")
        let queue = try vhost.declareQueue(
            name: "q", passive: false, durable: false, exclusive: false, autoDelete: false, arguments: [:],
            sessionID: 0)
        let message = Message(
            exchange: "", routingKey: "q", properties: RawProperties(BasicProperties(deliveryMode: 1)),
            body: ByteBuffer(repeating: 0x78, count: 16))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            queue.enqueue(message)
            blackHole(queue.dequeue())
        }
    }

    Benchmark("Queue enqueue 1000, then dequeue 1000 (transient)") { benchmark in
        let vhost = VirtualHost(name: "bench")
        let queue = try vhost.declareQueue(
            name: "q", passive: false, durable: false, exclusive: false, autoDelete: false, arguments: [:],
            sessionID: 0)
        let message = Message(
            exchange: "", routingKey: "q", properties: RawProperties(BasicProperties(deliveryMode: 1)),
            body: ByteBuffer(repeating: 0x78, count: 16))
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { queue.enqueue(message) }
        for _ in benchmark.scaledIterations { blackHole(queue.dequeue()) }
    }

    Benchmark("Session publish -> deliver (no-ack consumer, batches of 100)") { benchmark in
        let vhost = VirtualHost(name: "bench")
        let session = vhost.openSession(id: 1, user: "guest", capabilities: ClientCapabilities())
        let deliveries = DeliveryCount()
        session.sink = { output, _ in deliveries.add(output.count) }
        session.process([
            .method(channel: 1, .channelOpen(ChannelOpen())),
            .method(channel: 1, .queueDeclare(QueueDeclare(queue: "q"))),
            .method(channel: 1, .basicConsume(BasicConsume(queue: "q", consumerTag: "c", noAck: true))),
        ])
        let message = Message(
            exchange: "", routingKey: "q", properties: RawProperties(BasicProperties(deliveryMode: 1)),
            body: ByteBuffer(repeating: 0x78, count: 16))
        let batch = [SessionCommand](
            repeating: .publish(channel: 1, mandatory: false, immediate: false, message: message), count: 100)
        deliveries.reset()
        benchmark.startMeasurement()
        for _ in 0..<(benchmark.scaledIterations.count / batch.count) { session.process(batch) }
        benchmark.stopMeasurement()
        precondition(deliveries.count == benchmark.scaledIterations.count, "expected every message delivered")
    }
}

/// Counts what a session hands to its connection (the sink is called on the benchmark's thread).
private final class DeliveryCount: @unchecked Sendable {
    private(set) var count = 0
    func add(_ n: Int) { count += n }
    func reset() { count = 0 }
}
