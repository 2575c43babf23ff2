/// A resource whose shortage blocks publishers, named as RabbitMQ names it in alarms and in
/// connection.blocked's reason.
public enum AlarmResource: String, Sendable, Hashable, CaseIterable, Comparable {
    case disk
    case memory

    public static func < (a: AlarmResource, b: AlarmResource) -> Bool { a.rawValue < b.rawValue }

    /// connection.blocked's reason for the resources raised, as RabbitMQ words it:
    /// "low on memory", "low on disk & memory".
    static func blockedReason(_ resources: [AlarmResource]) -> String {
        "low on " + resources.sorted().map(\.rawValue).joined(separator: " & ")
    }
}

/// One resource's alarm as a value: a limit, and whether the last measurement crossed it.
/// The disk alarm is raised while free space is below its limit, the memory alarm while the
/// memory used is above its limit (no hysteresis: RabbitMQ has none either).
struct ResourceThreshold: Equatable {
    enum Direction: Equatable {
        /// Raised when the measured amount is below the limit (free disk space).
        case below
        /// Raised when the measured amount is above the limit (memory used).
        case above
    }

    let direction: Direction
    var limit: UInt64
    private(set) var isRaised = false
    /// The last measurement, so that a new limit takes effect without measuring again.
    private(set) var measured: UInt64?

    enum Transition: Equatable { case raised, cleared }

    init(_ direction: Direction, limit: UInt64) {
        self.direction = direction
        self.limit = limit
    }

    static func diskFree(limit: UInt64) -> ResourceThreshold { ResourceThreshold(.below, limit: limit) }
    static func memoryUsed(limit: UInt64) -> ResourceThreshold { ResourceThreshold(.above, limit: limit) }

    /// Takes a new measurement; says whether the alarm was raised or cleared by it.
    mutating func update(_ amount: UInt64) -> Transition? {
        measured = amount
        let crossed =
            switch direction {
            case .below: amount < limit
            case .above: amount > limit
            }
        guard crossed != isRaised else { return nil }
        isRaised = crossed
        return crossed ? .raised : .cleared
    }

    /// Sets a new limit and judges a fresh measurement (else the last one) against it.
    mutating func setLimit(_ newLimit: UInt64, measuring fresh: UInt64? = nil) -> Transition? {
        limit = newLimit
        guard let amount = fresh ?? measured else { return nil }
        return update(amount)
    }
}

/// Every resource alarm of the broker. Publishers are blocked while any alarm is raised and
/// unblocked only when all are cleared.
struct ResourceAlarms: Equatable {
    var disk: ResourceThreshold
    var memory: ResourceThreshold

    init(diskFreeLimit: UInt64, memoryLimit: UInt64) {
        disk = .diskFree(limit: diskFreeLimit)
        memory = .memoryUsed(limit: memoryLimit)
    }

    /// The resources whose alarm is raised, in order.
    var raised: [AlarmResource] {
        var resources: [AlarmResource] = []
        if disk.isRaised { resources.append(.disk) }
        if memory.isRaised { resources.append(.memory) }
        return resources
    }

    var blocksPublishers: Bool { disk.isRaised || memory.isRaised }

    subscript(resource: AlarmResource) -> ResourceThreshold {
        get {
            switch resource {
            case .disk: disk
            case .memory: memory
            }
        }
        set {
            switch resource {
            case .disk: disk = newValue
            case .memory: memory = newValue
            }
        }
    }
}

/// Raised through every connection's pipeline whenever the set of raised alarms changes:
/// empty, publishers may go on; otherwise they are blocked, for the reason these give.
struct ResourceAlarmEvent {
    var raised: [AlarmResource]
}
