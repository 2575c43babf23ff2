import AMQPProtocol

/// What a client connection asks of its session, decoded and assembled on the connection's
/// event loop and handed to the vhost's loop in batches.
public enum SessionCommand: Sendable {
    /// A method for a channel (never connection.*: the connection handles those itself).
    case method(channel: UInt16, AMQPMethod)
    /// basic.publish with its content, assembled into a message.
    case publish(channel: UInt16, mandatory: Bool, immediate: Bool, message: Message)
    /// An error the connection's frame layer found in what a channel sent (content announcing
    /// more than `max_message_size`): the session closes the channel (or the connection) with it,
    /// as if the method `classID`/`methodID` had failed.
    case fail(channel: UInt16, BrokerError, classID: UInt16, methodID: UInt16)
    /// The client's socket stopped (false) or resumed (true) accepting writes.
    case writable(Bool)
    /// The connection is gone: release everything it held.
    case close
}

/// What a session sends back to its client, encoded into frames on the connection's loop.
public enum SessionOutput: Sendable {
    case method(channel: UInt16, AMQPMethod)
    case deliver(channel: UInt16, consumerTag: String, deliveryTag: UInt64, redelivered: Bool, message: Message)
    case getOk(channel: UInt16, deliveryTag: UInt64, redelivered: Bool, messageCount: UInt32, message: Message)
    case returned(channel: UInt16, replyCode: UInt16, replyText: String, message: Message)
    /// A connection-level error: send connection.close and stop processing input.
    case closeConnection(replyCode: UInt16, replyText: String, classID: UInt16, methodID: UInt16)
}

/// The capabilities a client announced in connection.start-ok.
public struct ClientCapabilities: Sendable, Equatable {
    public var consumerCancelNotify = false
    public var connectionBlocked = false
    public var authenticationFailureClose = false

    public init(
        consumerCancelNotify: Bool = false, connectionBlocked: Bool = false, authenticationFailureClose: Bool = false
    ) {
        self.consumerCancelNotify = consumerCancelNotify
        self.connectionBlocked = connectionBlocked
        self.authenticationFailureClose = authenticationFailureClose
    }

    public init(clientProperties: FieldTable) {
        guard case .table(let caps)? = clientProperties["capabilities"] else { return }
        consumerCancelNotify = caps["consumer_cancel_notify"]?.boolValue ?? false
        connectionBlocked = caps["connection.blocked"]?.boolValue ?? false
        authenticationFailureClose = caps["authentication_failure_close"]?.boolValue ?? false
    }
}
