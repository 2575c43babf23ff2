import NIOConcurrencyHelpers
import NIOCore
import WarrenCore

/// An open AMQP connection as administrators see it (`list_connections`, `close_connection`).
public struct ConnectionInfo: Sendable {
    public let id: UInt64
    /// RabbitMQ's connection name: `peer:port -> local:port`.
    public let name: String
    public let user: String
    public let vhost: String
    public let peerHost: String
    public let peerPort: Int
    /// Milliseconds since the epoch, as RabbitMQ's connected_at.
    public let connectedAt: UInt64
    public let frameMax: UInt32
    public let channelMax: UInt16
    public let heartbeat: UInt16
    public let session: Session
    var channel: any Channel

    /// An identifier in the shape of RabbitMQ's connection pids, for `close_connection`.
    public var pid: String { "<warren.\(id).0>" }
}

/// The open connections, registered when connection.open succeeds. Touched only when
/// connections open and close.
public final class ConnectionRegistry: Sendable {
    private let connections = NIOLockedValueBox<[UInt64: ConnectionInfo]>([:])

    func add(_ info: ConnectionInfo) { connections.withLockedValue { $0[info.id] = info } }

    /// The connection moved to another event loop: its socket has a new channel.
    func moved(_ id: UInt64, to channel: any Channel) {
        connections.withLockedValue { $0[id]?.channel = channel }
    }

    func remove(_ id: UInt64) { connections.withLockedValue { _ = $0.removeValue(forKey: id) } }

    public var all: [ConnectionInfo] { connections.withLockedValue { $0.values.sorted { $0.id < $1.id } } }

    /// Closes a connection, named by its name or pid, with 320 CONNECTION_FORCED and the given
    /// reason; false if unknown.
    public func close(named name: String, reason: String) -> Bool {
        guard let info = all.first(where: { $0.name == name || $0.pid == name }) else { return false }
        info.channel.pipeline.fireUserInboundEventTriggered(ForcedCloseEvent(reason: reason))
        return true
    }

    /// Closes every connection of a user (the user was deleted).
    public func closeAll(ofUser user: String, reason: String) {
        for info in all where info.user == user {
            info.channel.pipeline.fireUserInboundEventTriggered(ForcedCloseEvent(reason: reason))
        }
    }

    /// Closes every connection to a vhost (it is being deleted).
    public func closeAll(inVhost vhost: String, reason: String) {
        for info in all where info.vhost == vhost {
            info.channel.pipeline.fireUserInboundEventTriggered(ForcedCloseEvent(reason: reason))
        }
    }
}

/// Raised through a connection's pipeline to close it with 320 CONNECTION_FORCED.
struct ForcedCloseEvent {
    var reason: String
}
