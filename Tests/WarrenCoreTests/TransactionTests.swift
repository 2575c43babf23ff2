import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore

/// tx.select / tx.commit / tx.rollback: publishes and acknowledgements take effect at commit.
@Suite struct TransactionTests {
    let vhost = makeVHost()
    let c: TestClient

    init() {
        c = TestClient(vhost)
        c.openChannel()
        c.openChannel(2)
        c.declareQueue("q")
    }

    func select(channel: UInt16 = 1) {
        #expect(c.call(.txSelect(TxSelect()), channel: channel) == ["\(channel):tx.select-ok"])
    }

    @Test func publishesAreInvisibleUntilCommit() {
        select()
        #expect(c.publish("a", "b", routingKey: "q") == [])
        #expect(c.get("q", channel: 2) == ["2:basic.get-empty"])
        #expect(c.call(.txCommit(TxCommit())) == ["1:tx.commit-ok"])
        #expect(c.get("q", channel: 2) == ["2:get-ok #1 a left=1"])
        #expect(c.get("q", channel: 2) == ["2:get-ok #2 b left=0"])
    }

    @Test func committedPublishesReachConsumersAfterCommitOk() {
        _ = c.consume("q", tag: "c", channel: 2)
        select()
        #expect(c.publish("a", routingKey: "q") == [])
        #expect(c.call(.txCommit(TxCommit())) == ["1:tx.commit-ok", "2:deliver c #1 a"])
    }

    @Test func rollbackDiscardsPublishes() {
        select()
        c.publish("a", routingKey: "q")
        #expect(c.call(.txRollback(TxRollback())) == ["1:tx.rollback-ok"])
        #expect(c.call(.txCommit(TxCommit())) == ["1:tx.commit-ok"])
        #expect(c.get("q", channel: 2) == ["2:basic.get-empty"])
    }

    @Test func theChannelStaysTransactionalAfterCommit() {
        select()
        c.publish("a", routingKey: "q")
        c.call(.txCommit(TxCommit()))
        c.publish("b", routingKey: "q")
        #expect(c.get("q", channel: 2) == ["2:get-ok #1 a left=0"])
        c.call(.txCommit(TxCommit()))
        #expect(c.get("q", channel: 2) == ["2:get-ok #2 b left=0"])
    }

    @Test func mandatoryReturnsOfATransactionComeAtCommit() {
        select()
        #expect(c.publish("lost", routingKey: "nowhere", mandatory: true) == [])
        #expect(c.call(.txCommit(TxCommit())) == ["1:return 312 lost", "1:tx.commit-ok"])
    }

    @Test func acksInATransactionTakeEffectAtCommit() {
        c.call(.basicQos(BasicQos(prefetchCount: 1)))
        _ = c.consume("q", tag: "c")
        #expect(c.publish("a", "b", routingKey: "q", channel: 2) == ["1:deliver c #1 a"])
        select()
        // The ack is held: the prefetch slot stays taken.
        #expect(c.ack(1) == [])
        #expect(c.call(.txCommit(TxCommit())) == ["1:tx.commit-ok", "1:deliver c #2 b"])
    }

    @Test func rollbackRestoresAckedDeliveries() {
        c.call(.basicQos(BasicQos(prefetchCount: 1)))
        _ = c.consume("q", tag: "c")
        c.publish("a", "b", routingKey: "q", channel: 2)
        select()
        c.ack(1)
        #expect(c.call(.txRollback(TxRollback())) == ["1:tx.rollback-ok"])
        // Tag 1 is outstanding again: it can be acked (and committed) once more.
        #expect(c.ack(1) == [])
        #expect(c.call(.txCommit(TxCommit())) == ["1:tx.commit-ok", "1:deliver c #2 b"])
    }

    @Test func rolledBackAckLeavesTheMessageToBeRequeuedOnClose() {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        select()
        c.ack(1)
        c.call(.txRollback(TxRollback()))
        c.call(.channelClose(ChannelClose()))
        #expect(c.get("q", channel: 2) == ["2:get-ok #1 a left=0 redelivered"])
    }

    @Test func uncommittedAckIsUndoneWhenTheChannelCloses() {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        select()
        c.ack(1)
        c.call(.channelClose(ChannelClose()))
        #expect(c.get("q", channel: 2) == ["2:get-ok #1 a left=0 redelivered"])
    }

    @Test func nackWithRequeueInATransactionRequeuesAtCommit() {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        select()
        c.call(.basicNack(BasicNack(deliveryTag: 1, requeue: true)))
        #expect(c.get("q", channel: 2) == ["2:basic.get-empty"])
        c.call(.txCommit(TxCommit()))
        #expect(c.get("q", channel: 2) == ["2:get-ok #1 a left=0 redelivered"])
    }

    @Test func ackedTagCannotBeAckedAgainInTheSameTransaction() {
        c.publish("a", routingKey: "q")
        _ = c.get("q")
        select()
        c.ack(1)
        #expect(c.ack(1) == ["1:channel.close 406 60/80"])
    }

    @Test func commitWithoutSelectIs406() {
        #expect(c.call(.txCommit(TxCommit())) == ["1:channel.close 406 90/20"])
    }

    @Test func rollbackWithoutSelectIs406() {
        #expect(c.call(.txRollback(TxRollback())) == ["1:channel.close 406 90/30"])
    }

    @Test func txSelectOnAConfirmChannelIs406() {
        c.call(.confirmSelect(ConfirmSelect()))
        #expect(c.call(.txSelect(TxSelect())) == ["1:channel.close 406 90/10"])
    }

    @Test func confirmSelectOnATransactionalChannelIs406() {
        select()
        #expect(c.call(.confirmSelect(ConfirmSelect())) == ["1:channel.close 406 85/10"])
    }

    @Test func closingTheChannelDiscardsUncommittedPublishes() {
        select()
        c.publish("a", routingKey: "q")
        c.call(.channelClose(ChannelClose()))
        #expect(c.get("q", channel: 2) == ["2:basic.get-empty"])
    }
}
