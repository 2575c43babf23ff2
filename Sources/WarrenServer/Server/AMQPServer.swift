import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The AMQP listener: accepts connections (`TCPListener`), puts each on the event loop
/// `LoopPlacement` chooses with an AMQP handler, and closes them all with 320
/// CONNECTION_FORCED on shutdown.
public final class AMQPServer: Sendable {
    private let group: any EventLoopGroup
    private let runtime: BrokerRuntime
    private let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
    private let listener = NIOLockedValueBox<TCPListener?>(nil)
    let placement: LoopPlacement
    /// The group's `IdlePolling`, if it has one: connections tell it when they read.
    let idlePolling: IdlePolling?

    public init(group: any EventLoopGroup, runtime: BrokerRuntime, idlePolling: IdlePolling? = nil) {
        self.group = group
        self.runtime = runtime
        self.idlePolling = idlePolling
        self.placement = LoopPlacement(group: group, idlePolling: idlePolling)
    }

    /// Reads of up to 64 KiB: larger ones make publishers' batches, and the acks queued behind
    /// them, wait longer. They start small: each connection keeps its read buffer between reads
    /// (NIO pools it), so an idle connection holds only what its handshake needed, and a busy
    /// one reaches 64 KiB within a few reads.
    static let readAllocator = AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 2048, maximum: 65536)
    /// For connections that send large body frames (see `AMQPConnectionHandler.largeFrameSize`).
    static let largeReadAllocator = AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 65536, maximum: 262144)

    /// Starts listening; throws when the address cannot be bound.
    public func start(host: String, port: Int) async throws -> SocketAddress? {
        let tcp = try TCPListener(host: host, port: port)
        listener.withLockedValue { $0 = tcp }
        tcp.run { [self] descriptor in
            let loop = runtime.defaultVhostLoop ?? group.next()
            adopt(descriptor, on: loop, handler: nil).whenFailure { [runtime] error in
                runtime.logger.warning("cannot set up an accepted connection: \(error)")
            }
        }
        return tcp.address
    }

    /// Makes a channel of a connected socket on `loop`: a new connection (`handler` nil) or one
    /// moving there from another loop, whose handler carries on.
    func adopt(
        _ descriptor: CInt, on loop: any EventLoop, handler: AMQPConnectionHandler.Successor?
    ) -> EventLoopFuture<any Channel> {
        let connections = self.connections
        let runtime = self.runtime
        let placement = self.placement
        return ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            // Small batches: a publisher's batch is handed to the vhost's loop whole, and acks from
            // consumers queue behind it, so batches bound how long an ack waits.
            .channelOption(.maxMessagesPerRead, value: 4)
            .channelOption(.recvAllocator, value: Self.readAllocator)
            .channelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
            .channelInitializer { [self] channel in
                let id = ObjectIdentifier(channel)
                connections.withLockedValue { $0[id] = channel }
                channel.closeFuture.whenComplete { _ in
                    _ = connections.withLockedValue { $0.removeValue(forKey: id) }
                }
                // Read after the channel is registered: a later change reaches it as an event.
                let alarms = runtime.alarms.raised
                return channel.eventLoop.makeCompletedFuture {
                    let connection =
                        handler?.take(alarms: alarms)
                        ?? AMQPConnectionHandler(
                            runtime: runtime, server: self, placement: placement, descriptor: descriptor,
                            alarms: alarms)
                    try channel.pipeline.syncOperations.addHandler(connection)
                }
            }
            .withConnectedSocket(descriptor)
    }

    /// Starts the resource alarms: free disk space under `diskPath` below `diskFreeLimit`, or
    /// resident memory above `memoryWatermark`, blocks connections that publish until it passes.
    public func monitorResources(diskPath: String?, diskFreeLimit: DiskFreeLimit, memoryWatermark: MemoryWatermark) {
        let connections = self.connections
        runtime.alarms.start(diskPath: diskPath, diskFreeLimit: diskFreeLimit, memoryWatermark: memoryWatermark) {
            raised in
            for channel in connections.withLockedValue({ Array($0.values) }) {
                channel.pipeline.fireUserInboundEventTriggered(ResourceAlarmEvent(raised: raised))
            }
        }
    }

    /// Stops accepting, asks every connection to close (320), and waits up to `timeout` for them.
    public func shutdown(timeout: TimeAmount = .seconds(5)) async {
        listener.withLockedValue { $0?.close() }
        placement.stop()
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
