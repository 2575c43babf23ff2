import AMQPProtocol

/// Why a connection or a channel stopped working.
enum ClientError: Error, CustomStringConvertible, Sendable {
    /// The broker closed the connection (connection.close), or refused the handshake.
    case connectionClosed(code: UInt16, text: String)
    /// The broker closed a channel (channel.close): the method that caused it failed.
    case channelClosed(channel: UInt16, code: UInt16, text: String)
    /// The socket closed without a connection.close.
    case connectionLost
    /// The broker broke the protocol (a frame we cannot decode, an unexpected method).
    case protocolViolation(String)
    /// The handshake did not complete in time.
    case handshakeTimedOut
    /// The broker did not offer a mechanism we speak.
    case noSupportedMechanism(String)

    var description: String {
        switch self {
        case .connectionClosed(let code, let text): return "connection closed by the broker: \(code) \(text)"
        case .channelClosed(let channel, let code, let text):
            return "channel \(channel) closed by the broker: \(code) \(text)"
        case .connectionLost: return "connection lost"
        case .protocolViolation(let text): return "protocol violation: \(text)"
        case .handshakeTimedOut: return "the AMQP handshake timed out"
        case .noSupportedMechanism(let offered): return "the broker offers no PLAIN mechanism (offered: \(offered))"
        }
    }
}
