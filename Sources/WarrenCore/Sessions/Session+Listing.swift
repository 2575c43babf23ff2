import AMQPProtocol

/// What `list_channels` and `list_consumers` show of a session.
public struct ChannelSummary: Sendable {
    public var number: UInt16
    public var transactional: Bool
    public var confirm: Bool
    public var consumerCount: Int
    public var unacknowledged: Int
    public var prefetchCount: UInt16
    public var globalPrefetchCount: UInt16
}

public struct ConsumerSummary: Sendable {
    public var queue: String
    public var channel: UInt16
    public var consumerTag: String
    public var ackRequired: Bool
    public var prefetchCount: UInt16
    public var exclusive: Bool
    /// False for a consumer waiting its turn on a single-active-consumer queue.
    public var active: Bool
    /// rabbitmqctl's activity_status: `single_active` or `waiting` on a single-active-consumer
    /// queue, else `up`.
    public var activityStatus: String
    /// basic.consume's arguments.
    public var arguments: FieldTable
}

extension Session {
    /// Must be called on the vhost's loop.
    public var channelSummaries: [ChannelSummary] {
        channels.values.sorted { $0.number < $1.number }.map { $0.summary }
    }

    /// Must be called on the vhost's loop.
    public var consumerSummaries: [ConsumerSummary] {
        channels.values.sorted { $0.number < $1.number }.flatMap { $0.consumerSummaries }
    }
}
