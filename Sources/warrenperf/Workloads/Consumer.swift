import AMQPProtocol

/// One consumer: counts deliveries and, with manual acks, acknowledges with basic.ack (multiple):
/// at once, mid-read, when a quarter of the prefetch window is unacked (so the broker always has
/// room to keep delivering), and at the end of every read burst. Runs on its connection's loop.
final class Consumer: ChannelObserver {
    private let handler: AMQPClientHandler
    private let channel: UInt16
    private let manualAck: Bool
    private let meter: RateMeter
    private let ackEvery: UInt64
    private var received = 0
    private var lastTag: UInt64 = 0
    private var ackedThrough: UInt64 = 0
    private(set) var cancelled = false
    var stopped = false

    init(handler: AMQPClientHandler, channel: UInt16 = 1, manualAck: Bool, prefetch: Int, meter: RateMeter) {
        self.handler = handler
        self.channel = channel
        self.manualAck = manualAck
        self.ackEvery = prefetch > 0 ? UInt64(max(1, prefetch / 4)) : UInt64.max
        self.meter = meter
    }

    func delivered(tag: UInt64, redelivered: Bool, properties: RawProperties, bodySize: Int) {
        received += 1
        lastTag = tag
        if manualAck && lastTag - ackedThrough >= ackEvery {
            handler.send(BasicAck(deliveryTag: lastTag, multiple: true), channel: channel)
            handler.flush()
            ackedThrough = lastTag
        }
    }

    func readBurstEnded() {
        if received > 0 {
            meter.add(consumed: received)
            received = 0
        }
        if manualAck && lastTag > ackedThrough {
            handler.send(BasicAck(deliveryTag: lastTag, multiple: true), channel: channel)
            ackedThrough = lastTag
        }
    }

    func consumerCancelled(tag: String) {
        cancelled = true
        if !stopped { meter.record(error: "the broker cancelled consumer \(tag)") }
    }

    func closed(_ error: ClientError) {
        if !stopped { meter.record(error: "consumer: \(error)") }
    }
}
