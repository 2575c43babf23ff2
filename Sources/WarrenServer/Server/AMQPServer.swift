import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The TCP listener: accepts connections, gives each an AMQP handler, and closes them all with
/// 320 CONNECTION_FORCED on shutdown.
public final class AMQPServer: Sendable {
    private let group: any EventLoopGroup
    private let runtime: BrokerRuntime
    private let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    private let listener = NIOLockedValueBox<(any Channel)?>(nil)
    private let diskAlarm = NIOLockedValueBox<DiskAlarm?>(nil)

    public init(group: any EventLoopGroup, runtime: BrokerRuntime) {
        self.group = group
        self.runtime = runtime
    }

    /// Starts listening; throws when the address cannot be bound.
    public func start(host: String, port: Int) async throws -> SocketAddress? {
        let connections = self.connections
        let runtime = self.runtime
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            // Small batches: a publisher's batch is handed to the vhost's loop whole, and acks from
            // consumers queue behind it, so batches bound how long an ack waits.
            .childChannelOption(.maxMessagesPerRead, value: 4)
            .childChannelOption(
                .recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 16384, maximum: 65536)
            )
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .childChannelInitializer { [self] channel in
                let id = ObjectIdentifier(channel)
                let alarm = isDiskAlarmRaised
                connections.withLockedValue { $0[id] = channel }
                channel.closeFuture.whenComplete { _ in
                    _ = connections.withLockedValue { $0.removeValue(forKey: id) }
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        AMQPConnectionHandler(runtime: runtime, alarmRaised: alarm))
                }
            }
        let channel = try await bootstrap.bind(host: host, port: port).get()
        listener.withLockedValue { $0 = channel }
        return channel.localAddress
    }

    /// Checks free disk space under `path` every second; below `limit` bytes, connections that
    /// publish are blocked until space returns.
    public func monitorDisk(path: String, limit: UInt64, logger: Logger) {
        diskAlarm.withLockedValue { $0 = DiskAlarm(limit: limit) }
        let check: @Sendable () -> Void = { [self] in
            guard let free = freeDiskBytes(at: path) else { return }
            let transition = diskAlarm.withLockedValue { $0?.update(freeBytes: free) }
            guard let transition else { return }
            let blocked = transition == .raised
            if blocked {
                logger.warning(
                    "disk alarm: \(free) bytes free in \(path), below the limit of \(limit); publishers are blocked")
            } else {
                logger.notice("disk alarm cleared: \(free) bytes free in \(path); publishers may continue")
            }
            for channel in connections.withLockedValue({ Array($0.values) }) {
                channel.pipeline.fireUserInboundEventTriggered(ResourceAlarmEvent(blocked: blocked))
            }
        }
        check()
        group.next().scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in check() }
    }

    var isDiskAlarmRaised: Bool { diskAlarm.withLockedValue { $0?.isRaised ?? false } }

    /// Stops accepting, asks every connection to close (320), and waits up to `timeout` for them.
    public func shutdown(timeout: TimeAmount = .seconds(5)) async {
        if let l = listener.withLockedValue({ $0 }) { try? await l.close() }
        let open = connections.withLockedValue { Array($0.values) }
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(BrokerShutdownEvent())
        }
        let deadline = NIODeadline.now() + timeout
        while NIODeadline.now() < deadline {
            if connections.withLockedValue({ $0.isEmpty }) { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        for channel in connections.withLockedValue({ Array($0.values) }) { try? await channel.close() }
    }
}
