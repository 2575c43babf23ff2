import AMQPProtocol
import Testing

@testable import WarrenCore

/// Flow control: a publisher filling a queue much faster than its consumers take messages has
/// its batches completed only at the consumers' pace (its connection then stops reading).
@Suite struct PublisherFlowTests {
    let vhost = makeVHost()
    let publisher: TestClient
    let consumer: TestClient

    init() {
        publisher = TestClient(vhost, id: 1)
        publisher.openChannel()
        publisher.declareQueue("q")
        consumer = TestClient(vhost, id: 2)
        consumer.openChannel()
        consumer.call(.basicQos(BasicQos(prefetchCount: 10)))
        _ = consumer.consume("q", tag: "c")
    }

    /// One batch of `count` messages to q; true if the batch completed at once.
    @discardableResult
    func publishBatch(_ count: Int) -> Bool {
        let before = publisher.log.completedBatches
        publisher.send((0..<count).map { _ in publisher.publishCommand("m", routingKey: "q") })
        return publisher.log.completedBatches == before + 1
    }

    /// Acks everything the consumer holds (tag 0, multiple): up to 10 more deliveries follow.
    func consumerAcksAll() {
        consumer.ack(0, multiple: true)
    }

    /// Builds a backlog fast enough between two ticks to turn flow on.
    func floodUntilFlow() {
        for _ in 0..<5 { #expect(publishBatch(5_000)) }
        vhost.tick()
        consumerAcksAll()
        for _ in 0..<3 { #expect(publishBatch(5_000)) }
        vhost.tick()
        #expect(vhost.queues["q"]!.flow.isOn)
    }

    @Test func batchesCompleteAtOnceWithoutFlow() {
        for _ in 0..<4 { #expect(publishBatch(1_000)) }
        #expect(vhost.queues["q"]!.flow.isOn == false)
    }

    @Test func floodedQueueParksBatchesUntilAsManyWereDelivered() {
        floodUntilFlow()
        let completed = publisher.log.completedBatches
        #expect(publishBatch(25) == false)
        #expect(publisher.session.parkedBatches == 1)  // list_connections shows it in flow
        // 10 deliveries per ack round: the batch of 25 completes in the third round.
        consumerAcksAll()
        #expect(publisher.log.completedBatches == completed)
        consumerAcksAll()
        #expect(publisher.log.completedBatches == completed)
        consumerAcksAll()
        #expect(publisher.log.completedBatches == completed + 1)
        #expect(publisher.session.parkedBatches == 0)
        // Nothing was lost: 40 025 published, 50 delivered (10 per ack round).
        #expect(vhost.queues["q"]!.messageCount == 40_025 - 50)
    }

    @Test func flowEndsWhenConsumersStopTakingMessages() {
        floodUntilFlow()
        let completed = publisher.log.completedBatches
        #expect(publishBatch(25) == false)
        // A tick without any delivery: the consumer is stuck, publishers must not be.
        vhost.tick()
        #expect(publisher.log.completedBatches == completed + 1)
        #expect(vhost.queues["q"]!.flow.isOn == false)
        #expect(publishBatch(25))
    }

    @Test func cancellingTheLastConsumerReleasesParkedBatches() {
        floodUntilFlow()
        let completed = publisher.log.completedBatches
        #expect(publishBatch(25) == false)
        consumer.call(.basicCancel(BasicCancel(consumerTag: "c")))
        #expect(publisher.log.completedBatches == completed + 1)
    }

    @Test func deletingTheQueueReleasesParkedBatches() {
        floodUntilFlow()
        let completed = publisher.log.completedBatches
        #expect(publishBatch(25) == false)
        consumer.call(.queueDelete(QueueDelete(queue: "q")))
        #expect(publisher.log.completedBatches == completed + 1)
    }

    @Test func aConsumersBatchThatDeadLettersIntoAQueueInFlowIsNotHeldBack() {
        // "src" dead-letters into q; a consumer of src rejecting a message must not have its
        // connection slowed: only publishes count.
        publisher.call(
            .queueDeclare(
                QueueDeclare(
                    queue: "src",
                    arguments: ["x-dead-letter-exchange": .string(""), "x-dead-letter-routing-key": .string("q")])))
        publisher.publish("dead", routingKey: "src")
        floodUntilFlow()
        let rejecter = TestClient(vhost, id: 3)
        rejecter.openChannel()
        _ = rejecter.consume("src", tag: "r")
        let before = rejecter.log.completedBatches
        rejecter.call(.basicReject(BasicReject(deliveryTag: 1, requeue: false)))
        #expect(rejecter.log.completedBatches == before + 1)
        #expect(rejecter.session.parkedBatches == 0)
        #expect(vhost.queues["src"]!.messageCount == 0)
    }

    @Test func queueWithoutConsumersKeepsAcceptingAtFullSpeed() {
        publisher.declareQueue("idle")
        for _ in 0..<10 {
            let before = publisher.log.completedBatches
            publisher.send((0..<5_000).map { _ in publisher.publishCommand("m", routingKey: "idle") })
            #expect(publisher.log.completedBatches == before + 1)
            vhost.tick()
        }
        #expect(vhost.queues["idle"]!.messageCount == 50_000)
        #expect(vhost.queues["idle"]!.flow.isOn == false)
    }

    @Test func slowSteadyGrowthDoesNotTurnFlowOn() {
        // A backlog that grows by less than the threshold per tick (a consumer a little slower
        // than its publishers) never slows them.
        for _ in 0..<5 { publishBatch(5_000) }
        for _ in 0..<10 {
            vhost.tick()
            consumerAcksAll()
            #expect(publishBatch(5_000))
        }
        #expect(vhost.queues["q"]!.flow.isOn == false)
    }
}
