/// What a throughput run measured.
struct ThroughputSummary: RunSummary {
    struct Second: Encodable {
        var published: Int
        var consumed: Int
        var confirmed: Int
    }

    let command = "throughput"
    var broker: String
    var producers: Int
    var consumers: Int
    var size: Int
    var queues: Int
    var exchangeType: String
    var persistent: Bool
    var confirm: Int
    var ack: Bool
    var prefetch: Int
    var rateLimit: Double
    var seconds: Double = 0
    var interrupted = false
    var error: String?
    var published = 0
    var consumed = 0
    var confirmed = 0
    var nacked = 0
    var publishRate: Double = 0
    var consumeRate: Double = 0
    var confirmRate: Double = 0
    var perSecond: [Second] = []

    init(command c: ThroughputCommand, broker: String) {
        self.broker = broker
        producers = c.producers
        consumers = c.consumers
        size = c.size
        queues = c.queues
        exchangeType = c.exchangeType
        persistent = c.persistent
        confirm = c.confirm
        ack = c.ack
        prefetch = c.prefetch
        rateLimit = c.rate
    }

    mutating func record(_ outcome: MeasurementWindow.Outcome) {
        seconds = roundedSeconds(outcome.elapsed)
        interrupted = outcome.interrupted
        published = outcome.totals.published
        consumed = outcome.totals.consumed
        confirmed = outcome.totals.confirmed
        nacked = outcome.totals.nacked
        publishRate = rate(published, over: outcome.elapsed)
        consumeRate = rate(consumed, over: outcome.elapsed)
        confirmRate = rate(confirmed, over: outcome.elapsed)
        perSecond = outcome.perSecond.map {
            Second(published: $0.published, consumed: $0.consumed, confirmed: $0.confirmed)
        }
    }

    var text: String {
        var lines = [
            "throughput against \(broker): \(seconds) s\(interrupted ? " (interrupted)" : "")",
            "  \(producers) producer(s), \(consumers) consumer(s), \(queues) queue(s) on a \(exchangeType) exchange, "
                + "\(size)-byte \(persistent ? "persistent" : "transient") messages"
                + (confirm > 0 ? ", confirms (window \(confirm))" : "") + (ack ? ", manual acks" : ", no-ack")
                + (prefetch > 0 ? ", prefetch \(prefetch)" : "") + (rateLimit > 0 ? ", rate limit \(rateLimit)/s" : ""),
            "  published \(published) (\(publishRate) msg/s)",
            "  consumed  \(consumed) (\(consumeRate) msg/s)",
        ]
        if confirm > 0 {
            lines.append("  confirmed \(confirmed) (\(confirmRate) msg/s)\(nacked > 0 ? ", nacked \(nacked)" : "")")
        }
        if let error { lines.append("  error: \(error)") }
        return lines.joined(separator: "\n")
    }
}
