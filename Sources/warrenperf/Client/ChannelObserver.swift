import AMQPProtocol

/// What a workload hears from its channel. Every call is made on the connection's event loop.
protocol ChannelObserver: AnyObject {
    /// A message arrived whole: basic.deliver, its content header, and all its body frames.
    func delivered(tag: UInt64, redelivered: Bool, properties: RawProperties, bodySize: Int)
    /// A publisher confirm: basic.ack (or basic.nack when `nacked`) from the broker.
    func confirmed(tag: UInt64, multiple: Bool, nacked: Bool)
    /// The broker cancelled a consumer (its queue was deleted, say).
    func consumerCancelled(tag: String)
    /// The socket takes writes again after its buffer had filled.
    func becameWritable()
    /// A read burst ended; the connection flushes right after. A good moment to ack and count.
    func readBurstEnded()
    /// The channel or its connection is gone.
    func closed(_ error: ClientError)
}

extension ChannelObserver {
    func delivered(tag: UInt64, redelivered: Bool, properties: RawProperties, bodySize: Int) {}
    func confirmed(tag: UInt64, multiple: Bool, nacked: Bool) {}
    func consumerCancelled(tag: String) {}
    func becameWritable() {}
    func readBurstEnded() {}
    func closed(_ error: ClientError) {}
}
