import Logging
import NIOConcurrencyHelpers
import NIOCore
import WarrenCore

/// A vhost and the event loop that owns it.
public struct VhostHandle: Sendable {
    public let vhost: VirtualHost
    public let eventLoop: any EventLoop
}

/// What every connection shares: users, limits, the vhosts and their loops. Touched under a
/// lock only when connections open, never per message.
public final class BrokerRuntime: Sendable {
    public let users: UserStore
    let limits: ConnectionStateMachine.Limits
    let logger: Logger
    private let vhosts: NIOLockedValueBox<[String: VhostHandle]>
    private let connectionIDs = NIOLockedValueBox<UInt64>(0)

    public init(
        group: any EventLoopGroup, users: UserStore = UserStore(), channelMax: UInt16 = 2047,
        frameMax: UInt32 = 131072, heartbeat: UInt16 = 60, logger: Logger
    ) {
        self.users = users
        self.limits = .init(channelMax: channelMax, frameMax: frameMax, heartbeat: heartbeat)
        self.logger = logger
        let root = VhostHandle(vhost: VirtualHost(name: "/"), eventLoop: group.next())
        self.vhosts = NIOLockedValueBox(["/": root])
        Self.startTimer(root)
    }

    /// Message TTLs and queue expiry are checked ten times a second, on the vhost's loop.
    private static func startTimer(_ handle: VhostHandle) {
        let vhost = handle.vhost
        handle.eventLoop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
            if vhost.hasTimedQueues { vhost.tick() }
        }
    }

    public func vhost(named name: String) -> VhostHandle? {
        vhosts.withLockedValue { $0[name] }
    }

    func nextConnectionID() -> UInt64 {
        connectionIDs.withLockedValue {
            $0 += 1
            return $0
        }
    }
}
