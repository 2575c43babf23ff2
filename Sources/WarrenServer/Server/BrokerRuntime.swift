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
    let timer: RepeatedTask
}

/// What every connection shares: users, limits, the vhosts and their loops. Touched under a
/// lock only when connections open or an administrator changes something, never per message.
public final class BrokerRuntime: Sendable {
    public let users: UserDirectory
    public let connections = ConnectionRegistry()
    /// The disk and memory alarms; `AMQPServer.monitorResources` starts them.
    public let alarms: ResourceMonitor
    /// When the broker started, for `status`'s uptime.
    let startedAt = NIODeadline.now()
    let limits: ConnectionStateMachine.Limits
    let logger: Logger
    private let group: any EventLoopGroup
    private let dataDirectory: String?
    private let vhosts = NIOLockedValueBox<[String: VhostHandle]>([:])
    private let connectionIDs = NIOLockedValueBox<UInt64>(0)
    /// The threads that run fdatasync for group commits, off the event loops.
    private let syncThreads: NIOThreadPool

    /// Opens every vhost the user database names, with its storage under `dataDirectory`
    /// (nil: nothing is stored), recovering what it holds.
    public init(
        group: any EventLoopGroup, dataDirectory: String?, users: UserDirectory, channelMax: UInt16 = 2047,
        frameMax: UInt32 = 131072, heartbeat: UInt16 = 60,
        maxMessageSize: UInt64 = UInt64(BrokerConfiguration.defaultMaxMessageSize), logger: Logger,
        resourceSources: ResourceMonitor.Sources = .system
    ) throws {
        self.group = group
        self.dataDirectory = dataDirectory
        self.users = users
        self.limits = .init(
            channelMax: channelMax, frameMax: frameMax, heartbeat: heartbeat, maxMessageSize: maxMessageSize)
        self.logger = logger
        self.syncThreads = NIOThreadPool(numberOfThreads: 2)
        MemoryRelease.keepLargeBuffersInHeap()
        self.alarms = ResourceMonitor(loop: group.next(), logger: logger, sources: resourceSources)
        syncThreads.start()
        for name in users.database.vhostNames { _ = try openVhost(name) }
        // Memory freed after a burst (a long queue drained or deleted, read buffers of a busy
        // spell) stays with the process unless the allocator is asked to give it back: the free
        // top of each loop's arena by the loop itself, the rest by malloc_trim.
        let pool = syncThreads
        let loops = Array(group.makeIterator())
        let timerLoop = group.next()
        trimTimer = timerLoop.scheduleRepeatedTask(initialDelay: .seconds(5), delay: .seconds(5)) { _ in
            MemoryRelease.lowerTrimThreshold()
            let trimmed = loops.map { $0.submit { MemoryRelease.trimThisThreadsArena() } }
            EventLoopFuture.andAllComplete(trimmed, on: timerLoop).whenComplete { _ in
                MemoryRelease.restoreTrimThreshold()
                pool.submit { _ in MemoryRelease.releaseFreeMemory() }
            }
        }
    }

    private nonisolated(unsafe) var trimTimer: RepeatedTask?

    /// The vhost, created (with its storage recovered) if it is not open yet.
    @discardableResult
    public func openVhost(_ name: String) throws -> VhostHandle {
        if let existing = vhost(named: name) { return existing }
        let vhost = VirtualHost(name: name)
        vhost.logger = logger
        let loop = group.next()
        vhost.setPolicies(VhostPolicies(vhost: name, parameters: users.database.runtimeParameters))
        // Set up here, before the vhost is published to its loop and to connections: nothing
        // else can touch it yet.
        if let dataDirectory {
            let store = try MessageStore(
                directory: Self.storageDirectory(dataDirectory, name), logger: logger,
                syncer: Self.syncer(on: syncThreads, completingOn: loop))
            try vhost.attach(store)
        }
        vhost.access = users.access
        // Message TTLs and queue expiry are checked ten times a second, on the vhost's loop.
        let timer = loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in
            vhost.tick()
        }
        let handle = VhostHandle(vhost: vhost, eventLoop: loop, timer: timer)
        vhosts.withLockedValue { $0[name] = handle }
        return handle
    }

    /// Removes a vhost and everything stored in it (its connections are closed by the server).
    public func deleteVhost(_ name: String) async {
        guard let handle = vhosts.withLockedValue({ $0.removeValue(forKey: name) }) else { return }
        handle.timer.cancel()
        try? await handle.eventLoop.submit { handle.vhost.removeEverything() }.get()
    }

    static func storageDirectory(_ dataDirectory: String, _ vhost: String) -> String {
        dataDirectory + "/vhosts/" + MessageStore.directoryName(forVhost: vhost)
    }

    /// Gives every vhost the access rules in force (after users or permissions changed); returns
    /// once every vhost's loop has them, so that a command's reply means they apply.
    ///
    /// Each loop reads the rules when it gets to the update, rather than being handed the ones of
    /// the change that asked: two commands run side by side (two `set_permissions`) could have
    /// their updates reach a loop in the other order, and the older rules would have stayed.
    public func publishAccess() async {
        let users = self.users
        await onEveryVhost { handle in handle.vhost.access = users.access }
    }

    /// Gives every vhost the policies in force (after a policy was set or cleared): each applies
    /// them to its queues and exchanges on its own loop; returns once all have. Read when applied,
    /// as `publishAccess` reads the rules.
    public func publishPolicies() async {
        let users = self.users
        await onEveryVhost { handle in
            let parameters = users.database.runtimeParameters
            handle.vhost.setPolicies(VhostPolicies(vhost: handle.vhost.name, parameters: parameters))
        }
    }

    /// Runs `body` for each vhost on its own loop, all at once, and waits for them.
    private func onEveryVhost(_ body: @escaping @Sendable (VhostHandle) -> Void) async {
        let done = allVhosts.map { handle in handle.eventLoop.submit { body(handle) } }
        for future in done { try? await future.get() }
    }

    public var allVhosts: [VhostHandle] {
        vhosts.withLockedValue { $0.values.sorted { $0.vhost.name < $1.vhost.name } }
    }

    /// Group commit's sync: fdatasync every file written since the last sync, on a sync
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

    /// Where new connections start, before they name their vhost: the loop of `/` (or of any
    /// vhost if there is no `/`), where most connections go.
    var defaultVhostLoop: (any EventLoop)? {
        vhosts.withLockedValue { ($0["/"] ?? $0.values.first)?.eventLoop }
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

    /// Writes what is buffered and waits for the sync threads (at shutdown).
    public func shutdown() async {
        alarms.stop()
        for handle in allVhosts {
            handle.timer.cancel()
            try? await handle.eventLoop.submit { handle.vhost.endOfBatch() }.get()
        }
        try? await syncThreads.shutdownGracefully()
    }
}
