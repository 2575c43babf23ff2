import AMQPProtocol
import Benchmark
import Foundation
import Logging
import NIOCore
import WarrenCore

/// Persistent messages into a durable queue's segment files, through the public API: a
/// MessageStore attached to a vhost, `MessageQueue.enqueue` (which appends the record to the
/// queue's store) and `VirtualHost.endOfBatch` (one `write` per file). The syncer completes at
/// once without fsync: this measures Warren's work, not the disk's.
func segmentAppendBenchmarks() {
    for bodySize in [16, 1024] {
        Benchmark(
            "Segment append, \(bodySize) B persistent, write per 100 (no fsync)",
            configuration: .init(maxDuration: .seconds(2), maxIterations: 300)
        ) { benchmark in
            let fixture = try StoreFixture()
            defer { fixture.remove() }
            let message = persistentMessage(bodySize: bodySize)
            benchmark.startMeasurement()
            for i in benchmark.scaledIterations {
                fixture.queue.enqueue(message)
                if i % 100 == 99 { fixture.vhost.endOfBatch() }
            }
            fixture.vhost.endOfBatch()
            benchmark.stopMeasurement()
        }

        Benchmark(
            "Segment append + settle, \(bodySize) B persistent, per 100 (no fsync)",
            configuration: .init(maxDuration: .seconds(2), maxIterations: 300)
        ) { benchmark in
            let fixture = try StoreFixture()
            defer { fixture.remove() }
            let message = persistentMessage(bodySize: bodySize)
            benchmark.startMeasurement()
            for i in benchmark.scaledIterations {
                fixture.queue.enqueue(message)
                if i % 100 == 99 {
                    fixture.vhost.endOfBatch()
                    while let m = fixture.queue.dequeue() { fixture.queue.settle(m) }
                    fixture.vhost.endOfBatch()
                }
            }
            benchmark.stopMeasurement()
        }
    }
}

private func persistentMessage(bodySize: Int) -> Message {
    Message(
        exchange: "", routingKey: "durable", properties: RawProperties(BasicProperties(deliveryMode: 2)),
        body: ByteBuffer(repeating: 0x78, count: bodySize))
}

/// A vhost with a store in a fresh temporary directory and one durable queue.
private struct StoreFixture {
    let directory: String
    let vhost: VirtualHost
    let queue: MessageQueue

    init() throws {
        directory = NSTemporaryDirectory() + "warren-micro-\(UUID().uuidString)"
        let store = try MessageStore(
            directory: directory, logger: Logger(label: "bench"), syncer: { _, _, completion in completion() })
        store.queueMemoryLimit = 0  // bodies live in the segments only, as in a long queue
        vhost = VirtualHost(name: "bench")
        try vhost.attach(store)
        queue = try vhost.declareQueue(
            name: "durable", passive: false, durable: true, exclusive: false, autoDelete: false, arguments: [:],
            sessionID: 0)
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
