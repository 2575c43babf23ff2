/// Folds a metadata log into the durable topology it describes: the exchanges, queues and
/// bindings that still exist, in the order they were made. The result is both what the vhost
/// recreates and the compacted log written back.
enum TopologyReplay {
    static func compact(_ records: [TopologyRecord]) -> [TopologyRecord] {
        var exchanges: [String: TopologyRecord] = [:]
        var exchangeOrder: [String] = []
        var queues: [String: TopologyRecord] = [:]
        var queueOrder: [String] = []
        var bindings: [TopologyRecord] = []

        func sameBinding(_ a: TopologyRecord, _ b: TopologyRecord) -> Bool {
            a.source == b.source && a.destination == b.destination && a.destinationType == b.destinationType
                && a.routingKey == b.routingKey && (a.arguments ?? "") == (b.arguments ?? "")
        }

        for record in records {
            switch record.op {
            case .declareExchange:
                guard let name = record.name else { continue }
                if exchanges[name] == nil { exchangeOrder.append(name) }
                exchanges[name] = record
            case .deleteExchange:
                guard let name = record.name else { continue }
                exchanges[name] = nil
                exchangeOrder.removeAll { $0 == name }
                bindings.removeAll {
                    $0.source == name || ($0.destinationType == "exchange" && $0.destination == name)
                }
            case .declareQueue:
                guard let name = record.name else { continue }
                if queues[name] == nil { queueOrder.append(name) }
                queues[name] = record
            case .deleteQueue:
                guard let name = record.name else { continue }
                queues[name] = nil
                queueOrder.removeAll { $0 == name }
                bindings.removeAll { $0.destinationType == "queue" && $0.destination == name }
            case .bind:
                if !bindings.contains(where: { sameBinding($0, record) }) { bindings.append(record) }
            case .unbind:
                bindings.removeAll { sameBinding($0, record) }
            }
        }
        return exchangeOrder.compactMap { exchanges[$0] } + queueOrder.compactMap { queues[$0] } + bindings
    }
}
