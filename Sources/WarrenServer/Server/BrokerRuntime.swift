import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import WarrenCore

#if canImport(Glibc)
    import Glibc
#endif

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
    /// The threads that run fdatasync for group commits, off the event loops.
    private let syncThread: NIOThreadPool

    /// Opens the vhost's storage under `dataDirectory` (nil: nothing is stored) and recovers
    /// what it holds.
    public init(
        group: any EventLoopGroup, dataDirectory: String?, users: UserStore = UserStore(),
        channelMax: UInt16 = 2047, frameMax: UInt32 = 131072, heartbeat: UInt16 = 60, logger: Logger
    ) throws {
        self.users = users
        self.limits = .init(channelMax: channelMax, frameMax: frameMax, heartbeat: heartbeat)
        self.logger = logger
        self.syncThread = NIOThreadPool(numberOfThreads: 2)
        syncThread.start()
        let vhost = VirtualHost(name: "/")
        vhost.logger = logger
        let loop = group.next()
        if let dataDirectory {
            let store = try MessageStore(
                directory: dataDirectory + "/vhosts/" + MessageStore.directoryName(forVhost: "/"), logger: logger,
                syncer: Self.syncer(on: syncThread, completingOn: loop))
            try loop.submit { try vhost.attach(store) }.wait()
        }
        let root = VhostHandle(vhost: vhost, eventLoop: loop)
        self.vhosts = NIOLockedValueBox(["/": root])
        Self.startTimer(root)
    }

    /// Group commit's sync: fdatasync every file written since the last sync, on the sync
    /// thread, then hand completion back to the vhost's loop.
    private static func syncer(on pool: NIOThreadPool, completingOn loop: any EventLoop) -> MessageStore.Syncer {
        { fds, directories, completion in
            pool.submit { _ in
                for fd in fds { fdatasync(fd) }
                for directory in directories {
                    let fd = open(directory, O_RDONLY | O_CLOEXEC)
                    if fd >= 0 {
                        fsync(fd)
                        close(fd)
                    }
                }
                loop.execute { completion() }
            }
        }
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

    /// Writes what is buffered and waits for the sync thread (at shutdown).
    public func shutdown() async {
        let handles = vhosts.withLockedValue { Array($0.values) }
        for handle in handles {
            try? await handle.eventLoop.submit { handle.vhost.endOfBatch() }.get()
        }
        try? await syncThread.shutdownGracefully()
    }
}
