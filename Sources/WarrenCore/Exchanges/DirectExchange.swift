/// Routes to the bindings whose key equals the routing key.
final class DirectExchange: Exchange, @unchecked Sendable {
    private var byKey: [String: [Destination]] = [:]

    override func didBind(_ binding: Binding) {
        byKey[binding.routingKey, default: []].append(binding.destination)
    }

    override func didUnbind(_ binding: Binding) {
        guard var list = byKey[binding.routingKey], let i = list.firstIndex(of: binding.destination) else { return }
        list.remove(at: i)
        byKey[binding.routingKey] = list.isEmpty ? nil : list
    }

    override func route(routingKey: String, message: Message, into destinations: inout [Destination]) {
        if let list = byKey[routingKey] { destinations.append(contentsOf: list) }
    }
}
