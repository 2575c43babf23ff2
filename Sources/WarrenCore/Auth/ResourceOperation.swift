/// The AMQP 0-9-1 methods that RabbitMQ checks permissions for, and what each needs — the table
/// in RabbitMQ's access control guide ("How Permissions Work"), in the order RabbitMQ checks, so
/// the first refusal names the same resource.
public enum ResourceOperation: Sendable, Hashable {
    /// With `alternateExchange` when a new exchange names one (`alternate-exchange` argument).
    case exchangeDeclare(exchange: String, passive: Bool, alternateExchange: String? = nil)
    case exchangeDelete(exchange: String)
    /// With `deadLetterExchange` when a new queue names one (`x-dead-letter-exchange`).
    case queueDeclare(queue: String, passive: Bool, deadLetterExchange: String? = nil)
    case queueDelete(queue: String)
    case queuePurge(queue: String)
    case queueBind(queue: String, exchange: String)
    case queueUnbind(queue: String, exchange: String)
    case exchangeBind(destination: String, source: String)
    case exchangeUnbind(destination: String, source: String)
    case basicPublish(exchange: String)
    case basicGet(queue: String)
    case basicConsume(queue: String)

    public var requirements: [AccessRequirement] {
        switch self {
        case .exchangeDeclare(let exchange, let passive, let alternateExchange):
            // A passive declare only asks whether the exchange exists: no permission needed.
            guard !passive else { return [] }
            var needed = [AccessRequirement(.configure, .exchange(exchange))]
            if let alternateExchange {
                needed.append(AccessRequirement(.read, .exchange(exchange)))
                needed.append(AccessRequirement(.write, .exchange(alternateExchange)))
            }
            return needed
        case .exchangeDelete(let exchange):
            return [AccessRequirement(.configure, .exchange(exchange))]
        case .queueDeclare(let queue, let passive, let deadLetterExchange):
            guard !passive else { return [] }
            var needed = [AccessRequirement(.configure, .queue(queue))]
            if let deadLetterExchange {
                needed.append(AccessRequirement(.read, .queue(queue)))
                needed.append(AccessRequirement(.write, .exchange(deadLetterExchange)))
            }
            return needed
        case .queueDelete(let queue):
            return [AccessRequirement(.configure, .queue(queue))]
        case .queuePurge(let queue), .basicGet(let queue), .basicConsume(let queue):
            return [AccessRequirement(.read, .queue(queue))]
        case .queueBind(let queue, let exchange), .queueUnbind(let queue, let exchange):
            return [AccessRequirement(.write, .queue(queue)), AccessRequirement(.read, .exchange(exchange))]
        case .exchangeBind(let destination, let source), .exchangeUnbind(let destination, let source):
            return [AccessRequirement(.write, .exchange(destination)), AccessRequirement(.read, .exchange(source))]
        case .basicPublish(let exchange):
            return [AccessRequirement(.write, .exchange(exchange))]
        }
    }
}
