/// Routes to every binding, whatever the routing key.
final class FanoutExchange: Exchange, @unchecked Sendable {
    private var all: [Destination] = []

    override func didBind(_ binding: Binding) { all.append(binding.destination) }

    override func didUnbind(_ binding: Binding) {
        if let i = all.firstIndex(of: binding.destination) { all.remove(at: i) }
    }

    override func route(routingKey: String, message: Message, into destinations: inout [Destination]) {
        destinations.append(contentsOf: all)
    }
}
