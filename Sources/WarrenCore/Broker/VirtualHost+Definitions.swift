import AMQPProtocol

extension VirtualHost {
    /// The durable topology in RabbitMQ's definitions form (for export_definitions).
    public func topologyDefinitions() -> (
        exchanges: [ExchangeDefinition], queues: [QueueDefinition], bindings: [BindingDefinition]
    ) {
        let exchanges = self.exchanges.values
            .filter { $0.durable && !$0.name.isEmpty && !$0.name.hasPrefix("amq.") }
            .sorted { $0.name < $1.name }
            .map {
                ExchangeDefinition(
                    name: $0.name, vhost: name, type: $0.kind.rawValue, durable: true, autoDelete: $0.autoDelete,
                    internal: $0.isInternal, arguments: $0.arguments)
            }
        let queues = self.queues.values
            .filter { $0.durable && $0.exclusiveOwner == nil }
            .sorted { $0.name < $1.name }
            .map {
                QueueDefinition(
                    name: $0.name, vhost: name, durable: true, autoDelete: $0.autoDelete, arguments: $0.arguments,
                    type: $0.stream != nil ? StreamArguments.typeName : nil)
            }
        var bindings: [BindingDefinition] = []
        for source in self.exchanges.values.sorted(by: { $0.name < $1.name })
        where source.durable && !source.name.isEmpty {
            for b in source.bindings {
                switch b.destination {
                case .queue(let q) where q.durable && q.exclusiveOwner == nil:
                    bindings.append(
                        BindingDefinition(
                            source: source.name, vhost: name, destination: q.name, destinationType: .queue,
                            routingKey: b.routingKey, arguments: b.arguments))
                case .exchange(let e) where e.durable:
                    bindings.append(
                        BindingDefinition(
                            source: source.name, vhost: name, destination: e.name, destinationType: .exchange,
                            routingKey: b.routingKey, arguments: b.arguments))
                default:
                    continue
                }
            }
        }
        return (exchanges, queues, bindings)
    }

    /// Declares what a definitions file holds for this vhost (import_definitions,
    /// load_definitions): exchanges, then queues, then bindings. Existing equivalent ones stay.
    public func importTopology(
        exchanges: [ExchangeDefinition], queues: [QueueDefinition], bindings: [BindingDefinition]
    ) throws(BrokerError) {
        for e in exchanges where e.vhost == name {
            try declareExchange(
                name: e.name, type: e.type, passive: false, durable: e.durable, autoDelete: e.autoDelete,
                isInternal: e.internal, arguments: e.arguments)
        }
        for q in queues where q.vhost == name {
            _ = try declareQueue(
                name: q.name, passive: false, durable: q.durable, exclusive: false, autoDelete: q.autoDelete,
                arguments: q.arguments, sessionID: 0)
        }
        for b in bindings where b.vhost == name {
            // As RabbitMQ does, bindings whose ends are not in the file or the vhost are skipped
            // (exports leave out internal exchanges but keep their bindings).
            guard self.exchanges[b.source] != nil else { continue }
            switch b.destinationType {
            case .queue:
                guard self.queues[b.destination] != nil else { continue }
                try bind(
                    queue: b.destination, exchange: b.source, routingKey: b.routingKey, arguments: b.arguments,
                    sessionID: 0)
            case .exchange:
                guard self.exchanges[b.destination] != nil else { continue }
                try bind(destination: b.destination, source: b.source, routingKey: b.routingKey, arguments: b.arguments)
            }
        }
        endOfBatch()
    }
}
