/// The nameless default exchange: every queue is implicitly bound to it under its own name.
final class DefaultExchange: Exchange, @unchecked Sendable {
    /// Not counted (as `MessageQueue.vhost`): the vhost owns its default exchange.
    unowned(unsafe) let vhost: VirtualHost

    init(vhost: VirtualHost) {
        self.vhost = vhost
        super.init(name: "", kind: .direct, durable: true, autoDelete: false, isInternal: false, arguments: [:])
    }

    override func route(routingKey: String, message: Message, into destinations: inout [Destination]) {
        if let q = vhost.queues[routingKey] { destinations.append(.queue(q)) }
    }
}
