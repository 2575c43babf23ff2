import AMQPProtocol
import NIOCore
import NIOPosix

/// An open AMQP connection, usable from any task. Its handler lives on the connection's event
/// loop; workloads that run there reach it through `onLoop`.
struct ClientConnection: Sendable {
    let channel: Channel
    let handler: NIOLoopBound<AMQPClientHandler>

    var eventLoop: EventLoop { channel.eventLoop }

    /// Connects, performs the handshake and opens channel 1.
    static func open(
        _ uri: AMQPURI, group: EventLoopGroup, name: String, sendBufferHighWaterMark: Int = 256 * 1024
    ) async throws -> ClientConnection {
        let bootstrap = ClientBootstrap(group: group)
            .connectTimeout(.seconds(10))
            .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            .channelOption(
                ChannelOptions.writeBufferWaterMark,
                value: .init(low: sendBufferHighWaterMark / 2, high: sendBufferHighWaterMark)
            )
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        AMQPClientHandler(uri: uri, name: name, eventLoop: channel.eventLoop))
                }
            }
        let channel = try await bootstrap.connect(host: uri.host, port: uri.port).get()
        let loop = channel.eventLoop
        do {
            let handler = try await loop.flatSubmit { () -> EventLoopFuture<NIOLoopBound<AMQPClientHandler>> in
                do {
                    let handler = try channel.pipeline.syncOperations.handler(type: AMQPClientHandler.self)
                    let bound = NIOLoopBound(handler, eventLoop: loop)
                    return handler.opened.futureResult.flatMap { bound.value.openChannel(1) }.map { bound }
                } catch {
                    return loop.makeFailedFuture(error)
                }
            }.get()
            return ClientConnection(channel: channel, handler: handler)
        } catch {
            try? await channel.close()
            throw error
        }
    }

    /// Sends a synchronous method on `channel` and returns the broker's reply.
    @discardableResult
    func call(_ method: AMQPMethod, channel id: UInt16 = 1) async throws -> AMQPMethod {
        let handler = self.handler
        return try await eventLoop.flatSubmit { handler.value.call(method, channel: id) }.get()
    }

    /// Runs `body` on the connection's event loop with its handler.
    func onLoop<Result: Sendable>(
        _ body: @escaping @Sendable (AMQPClientHandler) throws -> Result
    ) async throws -> Result {
        let handler = self.handler
        return try await eventLoop.submit { try body(handler.value) }.get()
    }

    /// Closes politely; never throws (a connection already gone is closed enough).
    func close() async {
        let handler = self.handler
        try? await eventLoop.flatSubmit { handler.value.close() }.get()
    }
}
