import AMQPProtocol
import Foundation
import Logging
import NIOCore
import WarrenCore

/// Raised through the pipeline when the broker shuts down.
struct BrokerShutdownEvent {}

/// The NIO handler of one client connection: it decodes frames, runs the connection state
/// machine, assembles publishes, hands commands to the session in batches (one per socket
/// read burst) and encodes the session's output, flushing once per batch.
final class AMQPConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let runtime: BrokerRuntime
    private var logger: Logger
    private var machine: ConnectionStateMachine
    private var decoder: FrameDecoder
    private var inbound = InboundFrameBuffer()
    private var headerBytes: [UInt8] = []
    private var negotiated: ConnectionStateMachine.Negotiated
    private var channels = ChannelTable()
    private var context: ChannelHandlerContext?

    // The session on the vhost's loop, and the commands waiting for the end of this read burst.
    private var session: Session?
    private var vhostLoop: (any EventLoop)?
    private var pending: [SessionCommand] = []
    private var inFlightBatches = 0
    private var readHeldBack = false
    /// Session output gathered on this loop for one write (see `makeSink`).
    private var gathered = Gathered()
    private struct Gathered {
        var output: [SessionOutput] = []
        var batches = 0
        var scheduled = false
    }
    private static let maxInFlightBatches = 2

    // Heartbeats: ticks at half the negotiated interval.
    private var heartbeatTask: RepeatedTask?
    private var handshakeTimeout: Scheduled<Void>?
    private var receivedSinceTick = false
    private var wroteSinceTick = false
    private var silentTicks = 0
    /// After a framing error the byte stream cannot be trusted: nothing more is read.
    private var discardInput = false
    private var socketClosed = false
    private var fromLoopback = false

    // Resource alarms: a connection that publishes while any is raised stops being read.
    private var alarms: [AlarmResource]
    private var hasPublished = false
    private var blockedByAlarm = false
    private var clientCapabilities = ClientCapabilities()

    // Moving to another event loop (`LoopPlacement`): the socket's descriptor, what was read
    // since the placement's last look, and how far a move has gone.
    private weak var server: AMQPServer?
    private let idlePolling: IdlePolling?
    private let placement: LoopPlacement?
    private var descriptor: CInt
    private var trafficMessages = 0
    private var trafficBytes = 0
    private var migration = Migration.none
    private var continuesMovedConnection = false
    /// When the connection last moved because of load (it moves again only after a while).
    private(set) var movedForLoadAt: NIODeadline?

    enum Migration {
        case none
        /// Reading stopped; waiting for the batches in flight to complete.
        case draining(to: any EventLoop)
        /// The session holds its output; waiting for what it sent before to be written.
        case handingOver(to: any EventLoop)
        /// The socket belongs to the successor on the other loop.
        case handedOver
    }

    init(
        runtime: BrokerRuntime, server: AMQPServer? = nil, placement: LoopPlacement? = nil, descriptor: CInt = -1,
        alarms: [AlarmResource] = []
    ) {
        self.alarms = alarms
        self.runtime = runtime
        self.server = server
        self.idlePolling = server?.idlePolling
        self.placement = placement
        self.descriptor = descriptor
        self.logger = runtime.logger
        self.machine = ConnectionStateMachine(limits: runtime.limits)
        self.decoder = FrameDecoder(maxFrameSize: Self.frameSizeLimit(runtime.limits.frameMax))
        self.negotiated = .init(
            channelMax: runtime.limits.channelMax, frameMax: runtime.limits.frameMax, heartbeat: 0)
    }

    // MARK: Lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        placement?.load(of: context.eventLoop)?.add(self)
        if continuesMovedConnection { return resumeAfterMove(context: context) }
        let remote = context.channel.remoteAddress
        fromLoopback = Self.isLoopback(remote)
        logger[metadataKey: "peer"] = "\(remote.map { "\($0)" } ?? "?")"
        logger.debug("connection accepted")
        // Strong, like the heartbeat task's: both are cancelled when the channel goes inactive. A
        // weak reference would give the handler a side table, and every retain and release of it
        // (several per batch of output) would take the runtime's slow path.
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        handshakeTimeout = context.eventLoop.scheduleTask(in: .seconds(10)) {
            let handler = bound.value
            guard !handler.machine.isOpen, !handler.socketClosed else { return }
            handler.logger.info("closing connection: handshake timed out")
            handler.closeSocket()
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        placement?.load(of: context.eventLoop)?.remove(self)
        if case .handedOver = migration {
            context.fireChannelInactive()
            return
        }
        socketClosed = true
        if let id = registeredID { runtime.connections.remove(id) }
        heartbeatTask?.cancel()
        handshakeTimeout?.cancel()
        pending.removeAll()
        if let session, let loop = vhostLoop {
            loop.execute { session.process([.close]) }
        }
        session = nil
        context.fireChannelInactive()
    }

    /// RabbitMQ accepts a payload of up to frame_max bytes (frame_max + 8 with the framing).
    static func frameSizeLimit(_ frameMax: UInt32) -> UInt32 {
        frameMax == 0 ? 0 : frameMax + 8
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }

    // MARK: Reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !discardInput else { return }
        var bytes = unwrapInboundIn(data)
        receivedSinceTick = true
        trafficBytes += bytes.readableBytes
        if case .awaitingProtocolHeader = machine.state {
            guard readProtocolHeader(&bytes, context: context) else { return }
        }
        let maxFrameSize = decoder.maxFrameSize == 0 ? Int(UInt32.max) : Int(decoder.maxFrameSize)
        inbound.feed(bytes, maxFrameSize: maxFrameSize, allocator: context.channel.allocator) {
            (buffer: inout ByteBuffer) in
            while !discardInput {
                let start = buffer.readerIndex
                do throws(AMQPProtocolError) {
                    guard let frame = try decoder.next(from: &buffer) else { return }
                    handle(frame, context: context)
                } catch {
                    frameRejected(error, consumed: buffer.readerIndex != start, context: context)
                }
            }
        }
        if discardInput { inbound.reset() }
    }

    /// A frame the decoder refused. If it could be skipped the connection waits for close-ok
    /// as usual; if the byte stream is broken it is closed once connection.close is written.
    private func frameRejected(_ error: AMQPProtocolError, consumed: Bool, context: ChannelHandlerContext) {
        logger.info("connection error: \(error.text)")
        perform(
            machine.fail(error.replyCode, error.text, classID: error.classID, methodID: error.methodID),
            context: context)
        if !consumed {
            // Called from inside `inbound.feed`: the buffer is dropped by the caller.
            discardInput = true
            context.flush()
            closeSocket()
        }
    }

    /// Collects the 8-byte protocol header; true once it was valid and bytes may follow.
    private func readProtocolHeader(_ bytes: inout ByteBuffer, context: ChannelHandlerContext) -> Bool {
        let wanted = 8 - headerBytes.count
        headerBytes += bytes.readBytes(length: min(wanted, bytes.readableBytes)) ?? []
        guard headerBytes.count == 8 else { return false }
        perform(machine.protocolHeaderReceived(valid: headerBytes == ProtocolHeader.amqp091), context: context)
        return !discardInput
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        submitPending()
        if !alarms.isEmpty && hasPublished && !blockedByAlarm { block(context: context) }
        if wroteSinceTick { context.flush() }
        idlePolling?.noteRead(socket: descriptor)
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if inFlightBatches >= Self.maxInFlightBatches || blockedByAlarm || isMoving {
            readHeldBack = true
        } else {
            context.read()
        }
    }

    private func handle(_ frame: Frame, context: ChannelHandlerContext) {
        switch frame {
        case .heartbeat:
            return
        case .method(0, let method):
            let runtime = self.runtime
            let loopback = fromLoopback
            perform(
                machine.methodReceived(method) { runtime.users.authenticate($0, fromLoopback: loopback) },
                context: context)
        case .method(let number, let method):
            guard machine.isOpen else {
                if !machine.isClosing {
                    connectionError(
                        ReplyCode.unexpectedFrame, "expected method on channel 0, got a channel frame", method)
                }
                return
            }
            channelMethod(method, on: number)
        case .header(let number, let header):
            // One in-place access per frame: the channel's state is not copied to be looked at.
            guard machine.isOpen,
                let outcome = channels.update(
                    number,
                    {
                        $0.isClosing
                            ? .none
                            : $0.header(header, channel: number, maxMessageSize: runtime.limits.maxMessageSize)
                    })
            else {
                if !machine.isClosing { unexpectedFrame(Self.expectedMethod) }
                return
            }
            collect(outcome)
        case .body(let number, let body):
            guard machine.isOpen,
                let outcome = channels.update(number, { $0.isClosing ? .none : $0.body(body, channel: number) })
            else {
                if !machine.isClosing { unexpectedFrame(Self.expectedMethod) }
                return
            }
            if body.readableBytes >= Self.largeFrameSize && !readsLarge { useLargeReads(context: context) }
            collect(outcome)
        }
    }

    /// Body frames at least this large are mostly cut by the end of a 64 KiB read, and a cut
    /// frame is copied whole; a connection that sends them gets reads large enough to hold
    /// several whole, so most bodies stay slices of the read buffer.
    private static let largeFrameSize = 16 * 1024
    private var readsLarge = false

    private func useLargeReads(context: ChannelHandlerContext) {
        readsLarge = true
        context.channel.setOption(.recvAllocator, value: AMQPServer.largeReadAllocator).whenFailure { _ in }
    }

    private static let expectedMethod = "expected method frame, got non method frame instead"

    private func collect(_ outcome: ChannelFrameState.Outcome) {
        switch outcome {
        case .none: return
        case .publish(let command):
            pending.append(command)
            trafficMessages += 1
        case .refuse(let command):
            pending.append(command)
        case .unexpectedFrame(let text, let duringPublish): unexpectedFrame(text, duringPublish: duringPublish)
        }
    }

    /// 505 UNEXPECTED_FRAME; while content was expected RabbitMQ names basic.publish (60/40).
    private func unexpectedFrame(_ text: String, duringPublish: Bool = false) {
        guard let context else { return }
        perform(
            machine.fail(
                ReplyCode.unexpectedFrame, text, classID: duringPublish ? 60 : 0, methodID: duringPublish ? 40 : 0),
            context: context)
    }

    private func connectionError(_ code: UInt16, _ text: String, _ method: AMQPMethod?) {
        guard let context else { return }
        perform(
            machine.fail(code, text, classID: method?.classID ?? 0, methodID: method?.methodID ?? 0), context: context)
    }

    private func channelMethod(_ method: AMQPMethod, on number: UInt16) {
        if method.classID == 10 {
            return connectionError(
                ReplyCode.commandInvalid, "connection method \(method.name) on channel \(number)", method)
        }
        guard let frameState = channels[number] else {
            guard case .channelOpen = method else {
                return connectionError(ReplyCode.channelError, "expected 'channel.open'", method)
            }
            // channel_max limits how many channels are open at once, not their numbers.
            if negotiated.channelMax != 0 && channels.count >= Int(negotiated.channelMax) {
                return connectionError(
                    ReplyCode.notAllowed,
                    "number of channels opened (\(channels.count)) has reached the negotiated channel_max "
                        + "(\(negotiated.channelMax))", nil)
            }
            channels.open(number)
            pending.append(.method(channel: number, method))
            return
        }
        switch frameState.state {
        case .closing:
            switch method {
            case .channelCloseOk, .channelClose:
                channels.close(number)
                pending.append(.method(channel: number, method))
            default:
                return
            }
        case .expectingHeader:
            unexpectedFrame(
                "expected content header for class 60, got non content header frame instead", duringPublish: true)
        case .expectingBody:
            unexpectedFrame("expected content body, got non content body frame instead", duringPublish: true)
        case .idle:
            switch method {
            case .channelOpen:
                connectionError(ReplyCode.channelError, "second 'channel.open' seen", method)
            case .channelClose:
                channels.close(number)
                pending.append(.method(channel: number, method))
            case .basicPublish(let publish):
                channels.update(number) { $0.publishStarted(publish) }
                hasPublished = true
            default:
                pending.append(.method(channel: number, method))
            }
        }
    }

    private func submitPending() {
        guard !pending.isEmpty, let session, let loop = vhostLoop else { return }
        // While the session holds its output a batch could not complete: the successor sends it.
        switch migration {
        case .handingOver, .handedOver: return
        case .none, .draining: break
        }
        let batch = pending
        pending = []
        pending.reserveCapacity(batch.count)
        inFlightBatches += 1
        // On the vhost's own loop the batch is handled now rather than after the loop's other
        // ready work.
        if loop.inEventLoop {
            session.process(batch)
        } else {
            loop.execute { session.process(batch) }
        }
    }

    // MARK: Actions

    private func perform(_ action: ConnectionStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            return
        case .rejectProtocolHeader:
            var out = context.channel.allocator.buffer(capacity: 8)
            out.writeBytes(ProtocolHeader.amqp091)
            discardInput = true
            context.writeAndFlush(wrapOutboundOut(out)).whenComplete { _ in context.close(promise: nil) }
        case .send(let method):
            write(method, channel: 0, context: context)
        case .tuned(let n):
            negotiated = n
            decoder.maxFrameSize = Self.frameSizeLimit(n.frameMax)
            if n.heartbeat > 0 { startHeartbeats(seconds: n.heartbeat, context: context) }
        case .openVhost(let name, let user, let capabilities):
            clientCapabilities = capabilities
            guard let handle = runtime.vhost(named: name) else {
                perform(machine.vhostNotFound(name), context: context)
                return
            }
            do {
                try runtime.users.access.checkVhostAccess(user: user, vhost: name)
            } catch {
                perform(
                    machine.close(
                        replyCode: error.replyCode, text: error.text, classID: 10, methodID: 40),
                    context: context)
                return
            }
            handshakeTimeout?.cancel()
            let id = runtime.nextConnectionID()
            let session = Session(id: id, vhost: handle.vhost, user: user, capabilities: capabilities)
            registerConnection(id: id, user: user, vhost: name, session: session, context: context)
            session.sink = makeSink(on: context.eventLoop)
            self.session = session
            self.vhostLoop = handle.eventLoop
            handle.eventLoop.execute { handle.vhost.register(session) }
            logger.info("connection opened", metadata: ["user": "\(user)", "vhost": "\(name)"])
            write(.connectionOpenOk(ConnectionOpenOk()), channel: 0, context: context)
            // A connection started on the default vhost's loop; one to another vhost moves to
            // that vhost's loop, so that its messages need no hop.
            if placement != nil, handle.eventLoop !== context.eventLoop {
                context.flush()
                migrate(to: handle.eventLoop, reason: nil)
            }
        case .close(let code, let text, let classID, let methodID):
            pending.removeAll()
            write(
                .connectionClose(
                    ConnectionClose(replyCode: code, replyText: text, classID: classID, methodID: methodID)),
                channel: 0, context: context)
            context.flush()
            // Give the client a moment to answer close-ok, then close regardless.
            context.eventLoop.scheduleTask(in: .seconds(3)) { [weak self] in self?.closeSocket() }
        case .acceptClose:
            pending.removeAll()
            write(.connectionCloseOk(ConnectionCloseOk()), channel: 0, context: context)
            context.flush()
            closeSocket()
        case .closeSocket:
            context.flush()
            closeSocket()
        }
    }

    /// Stops reading a publishing connection while an alarm is raised, telling clients that
    /// understand connection.blocked why ("low on memory"). Sent once: a further alarm raised
    /// while blocked changes nothing for the client, as with RabbitMQ.
    private func block(context: ChannelHandlerContext) {
        blockedByAlarm = true
        let reason = AlarmResource.blockedReason(alarms)
        if clientCapabilities.connectionBlocked {
            write(.connectionBlocked(ConnectionBlocked(reason: reason)), channel: 0, context: context)
            context.flush()
        }
        logger.info("connection blocked: \(reason)")
    }

    private func unblock(context: ChannelHandlerContext) {
        guard blockedByAlarm else { return }
        blockedByAlarm = false
        if clientCapabilities.connectionBlocked {
            write(.connectionUnblocked(ConnectionUnblocked()), channel: 0, context: context)
            context.flush()
        }
        logger.info("connection unblocked")
        resumeReading()
    }

    /// Reads again if reading was held back and nothing holds it any more.
    private func resumeReading() {
        guard readHeldBack, !blockedByAlarm, !isMoving, inFlightBatches < Self.maxInFlightBatches, let context
        else { return }
        readHeldBack = false
        context.read()
    }

    private var registeredID: UInt64?

    private func registerConnection(
        id: UInt64, user: String, vhost: String, session: Session, context: ChannelHandlerContext
    ) {
        let peer = context.channel.remoteAddress
        let local = context.channel.localAddress
        let peerHost = peer?.ipAddress ?? "?"
        let peerPort = peer?.port ?? 0
        runtime.connections.add(
            ConnectionInfo(
                id: id, name: "\(peerHost):\(peerPort) -> \(local?.ipAddress ?? "?"):\(local?.port ?? 0)",
                user: user, vhost: vhost, peerHost: peerHost, peerPort: peerPort,
                connectedAt: UInt64(Date().timeIntervalSince1970 * 1000), frameMax: negotiated.frameMax,
                channelMax: negotiated.channelMax, heartbeat: negotiated.heartbeat, session: session,
                channel: context.channel))
        registeredID = id
    }

    private func closeSocket() {
        guard !socketClosed, let context else { return }
        socketClosed = true
        context.close(promise: nil)
    }

    private func write(_ method: AMQPMethod, channel: UInt16, context: ChannelHandlerContext) {
        var out = context.channel.allocator.buffer(capacity: 64)
        out.writeMethodFrame(channel: channel, method)
        context.write(wrapOutboundOut(out), promise: nil)
        wroteSinceTick = true
    }

    // MARK: Session output

    /// Output from the session, on this connection's loop: encoded into one buffer, one flush.
    func receive(_ output: [SessionOutput], completedBatches: Int) {
        inFlightBatches -= completedBatches
        if case .draining = migration { continueMove() }
        resumeReading()
        if case .handedOver = migration { return }
        guard let context, !socketClosed, !output.isEmpty, !machine.isClosing else { return }
        var out = context.channel.allocator.buffer(capacity: 4096)
        for item in output {
            switch item {
            case .method(let channel, let method):
                if case .channelClose = method { channels.update(channel) { $0.state = .closing } }
                out.writeMethodFrame(channel: channel, method)
            case .deliver(let channel, let tag, let deliveryTag, let redelivered, let message):
                trafficMessages += 1
                trafficBytes += message.body.readableBytes
                let large = message.body.readableBytes >= Self.zeroCopyBodySize
                if out.writeDelivery(
                    channel: channel, consumerTag: tag, deliveryTag: deliveryTag, redelivered: redelivered,
                    exchange: message.exchange, routingKey: message.routingKey, properties: message.properties,
                    body: message.body, frameMax: negotiated.frameMax, includeBody: !large) != nil
                {
                    if large { writeLargeBody(message.body, channel: channel, after: &out, context: context) }
                    continue
                }
                writeContent(
                    channel: channel,
                    method: BasicDeliver(
                        consumerTag: tag, deliveryTag: deliveryTag, redelivered: redelivered,
                        exchange: message.exchange, routingKey: message.routingKey),
                    message: message, into: &out, context: context)
            case .getOk(let channel, let deliveryTag, let redelivered, let count, let message):
                writeContent(
                    channel: channel,
                    method: BasicGetOk(
                        deliveryTag: deliveryTag, redelivered: redelivered, exchange: message.exchange,
                        routingKey: message.routingKey, messageCount: count),
                    message: message, into: &out, context: context)
            case .returned(let channel, let code, let text, let message):
                writeContent(
                    channel: channel,
                    method: BasicReturn(
                        replyCode: code, replyText: text, exchange: message.exchange, routingKey: message.routingKey),
                    message: message, into: &out, context: context)
            case .closeConnection(let code, let text, let classID, let methodID):
                if out.readableBytes > 0 { context.write(wrapOutboundOut(out), promise: nil) }
                perform(
                    machine.close(replyCode: code, text: text, classID: classID, methodID: methodID), context: context)
                return
            }
        }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
        wroteSinceTick = true
    }

    /// Bodies at least this large are written as their own buffers instead of being copied.
    private static let zeroCopyBodySize = 16 * 1024

    private func writeContent<M: AMQPMethodArguments>(
        channel: UInt16, method: M, message: Message, into out: inout ByteBuffer, context: ChannelHandlerContext
    ) {
        let frameMax = negotiated.frameMax
        guard message.body.readableBytes >= Self.zeroCopyBodySize else {
            out.writeContent(
                channel: channel, method: method, properties: message.properties, body: message.body,
                frameMax: frameMax)
            return
        }
        out.writeMethodFrame(channel: channel, method)
        out.writeContentHeaderFrame(
            channel: channel, bodySize: UInt64(message.body.readableBytes), properties: message.properties)
        writeLargeBody(message.body, channel: channel, after: &out, context: context)
    }

    /// Writes the body frames of a large body: each frame's header ends `out`, which is written,
    /// then the body slice as a buffer of its own; `out` starts again with the frame's end octet.
    private func writeLargeBody(
        _ body: ByteBuffer, channel: UInt16, after out: inout ByteBuffer, context: ChannelHandlerContext
    ) {
        let frameMax = negotiated.frameMax
        let maxPayload = frameMax == 0 ? Int(UInt32.max) : Int(frameMax) - 8
        var body = body
        while body.readableBytes > 0 {
            let chunk = body.readSlice(length: min(maxPayload, body.readableBytes))!
            out.writeInteger(UInt8(3))
            out.writeInteger(channel)
            out.writeInteger(UInt32(chunk.readableBytes))
            context.write(wrapOutboundOut(out), promise: nil)
            context.write(wrapOutboundOut(chunk), promise: nil)
            out = context.channel.allocator.buffer(capacity: 4096)
            out.writeInteger(UInt8(0xCE))
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if session != nil {
            pending.append(.writable(context.channel.isWritable))
            submitPending()
        }
        context.fireChannelWritabilityChanged()
    }

    // MARK: Heartbeats and shutdown

    private func startHeartbeats(seconds: UInt16, context: ChannelHandlerContext) {
        let interval = TimeAmount.milliseconds(Int64(seconds) * 500)
        // Strong (see the handshake timeout); cancelled when the channel goes inactive or the
        // connection moves.
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        heartbeatTask = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            bound.value.heartbeatTick()
        }
    }

    private func heartbeatTick() {
        guard let context, !socketClosed else { return }
        if receivedSinceTick {
            silentTicks = 0
        } else {
            silentTicks += 1
            // Two missed heartbeat intervals (four half-interval ticks): the peer is gone.
            if silentTicks >= 4 {
                logger.info("closing connection: missed heartbeats from client")
                closeSocket()
                return
            }
        }
        receivedSinceTick = false
        // A heartbeat every half interval, whatever else is sent: cheap, and clients that
        // count only heartbeat frames as signs of life stay content.
        var out = context.channel.allocator.buffer(capacity: 8)
        out.writeHeartbeatFrame()
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let alarm = event as? ResourceAlarmEvent {
            alarms = alarm.raised
            if alarms.isEmpty {
                unblock(context: context)
            } else if hasPublished && machine.isOpen && !blockedByAlarm {
                block(context: context)
            }
            return
        }
        if let forced = event as? ForcedCloseEvent {
            if machine.isOpen {
                perform(
                    machine.fail(ReplyCode.connectionForced, forced.reason, classID: 0, methodID: 0), context: context)
            } else {
                closeSocket()
            }
            return
        }
        if event is BrokerShutdownEvent {
            if machine.isOpen {
                perform(
                    machine.fail(
                        ReplyCode.connectionForced, "broker forced connection closure with reason 'shutdown'",
                        classID: 0, methodID: 0), context: context)
            } else {
                closeSocket()
            }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logger.debug("connection error: \(error)")
        closeSocket()
    }
}

// MARK: Moving to another event loop

extension AMQPConnectionHandler: MovableConnection {
    /// A handler on its way to the loop its connection moves to, handed over once.
    struct Successor: @unchecked Sendable {
        fileprivate let handler: AMQPConnectionHandler

        func take(alarms: [AlarmResource]) -> AMQPConnectionHandler {
            handler.alarms = alarms
            return handler
        }
    }

    private convenience init(continuing old: AMQPConnectionHandler, descriptor: CInt) {
        self.init(
            runtime: old.runtime, server: old.server, placement: old.placement, descriptor: descriptor,
            alarms: old.alarms)
        logger = old.logger
        machine = old.machine
        decoder = old.decoder
        inbound = old.inbound
        negotiated = old.negotiated
        channels = old.channels
        session = old.session
        vhostLoop = old.vhostLoop
        pending = old.pending
        fromLoopback = old.fromLoopback
        hasPublished = old.hasPublished
        clientCapabilities = old.clientCapabilities
        registeredID = old.registeredID
        readsLarge = old.readsLarge
        movedForLoadAt = old.movedForLoadAt
        continuesMovedConnection = true
    }

    func takeTraffic() -> (messages: Int, bytes: Int) {
        defer {
            trafficMessages = 0
            trafficBytes = 0
        }
        return (trafficMessages, trafficBytes)
    }

    var isMoving: Bool {
        if case .none = migration { return false }
        return true
    }

    /// Output from the session goes to this handler on `loop`, as a task. When the session runs on
    /// that loop too, output from every batch handled in one turn of the loop (say requests read
    /// from several clients for this connection's consumer) is gathered and written by one task:
    /// one write and one wake-up of the client instead of one per batch.
    private func makeSink(on loop: any EventLoop) -> @Sendable ([SessionOutput], Int) -> Void {
        let bound = NIOLoopBound(self, eventLoop: loop)
        return { output, batches in
            if loop.inEventLoop {
                bound.value.gather(output, completedBatches: batches, bound: bound)
            } else {
                loop.execute { bound.value.receive(output, completedBatches: batches) }
            }
        }
    }

    private func gather(
        _ output: [SessionOutput], completedBatches: Int, bound: NIOLoopBound<AMQPConnectionHandler>
    ) {
        if gathered.output.isEmpty {
            gathered.output = output
        } else {
            gathered.output.append(contentsOf: output)
        }
        gathered.batches += completedBatches
        guard !gathered.scheduled else { return }
        gathered.scheduled = true
        bound.eventLoop.execute {
            let handler = bound.value
            let (output, batches) = (handler.gathered.output, handler.gathered.batches)
            handler.gathered = Gathered()
            handler.receive(output, completedBatches: batches)
        }
    }

    /// Moves the connection to `loop`: reading stops, the batches in flight complete, the session
    /// holds its output while what it sent is written, and a successor handler on `loop` takes
    /// over a duplicate of the socket's descriptor (the client sees nothing).
    func migrate(to loop: any EventLoop, reason: String?) {
        guard case .none = migration, server != nil, descriptor >= 0, machine.isOpen, session != nil,
            !socketClosed, !blockedByAlarm, let context, loop !== context.eventLoop
        else { return }
        migration = .draining(to: loop)
        if let reason {
            movedForLoadAt = .now()
            logger.info("moving the connection to another event loop: \(reason)")
        } else {
            logger.debug("moving the connection to its vhost's event loop")
        }
        // Not now: this may be called while a read is being decoded.
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        context.eventLoop.execute { bound.value.continueMove() }
    }

    private func continueMove() {
        guard case .draining(let target) = migration, let context, !socketClosed else { return }
        submitPending()
        guard inFlightBatches == 0, let session, let vhostLoop else { return }
        migration = .handingOver(to: target)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let loop = context.eventLoop
        vhostLoop.execute {
            session.holdOutput()
            // Behind everything the session sent before.
            loop.execute { bound.value.handOver() }
        }
    }

    private func handOver() {
        guard case .handingOver = migration, let context, !socketClosed else { return }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)), promise: written)
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        written.futureResult.whenSuccess { bound.value.transfer() }
    }

    private func transfer() {
        guard case .handingOver(let target) = migration, let context, !socketClosed, let server, let session,
            let vhostLoop
        else { return }
        // Closing meanwhile (client, administrator or shutdown): it finishes here.
        guard machine.isOpen, !blockedByAlarm else { return stayHere(context: context) }
        let copy = dup(descriptor)
        guard copy >= 0 else {
            logger.warning("cannot move the connection to another event loop: dup failed (\(errno))")
            return stayHere(context: context)
        }
        let successor = AMQPConnectionHandler(continuing: self, descriptor: copy)
        migration = .handedOver
        heartbeatTask?.cancel()
        pending.removeAll()
        // Closes this descriptor only: the socket stays open through the duplicate.
        context.close(promise: nil)
        let logger = self.logger
        let runtime = self.runtime
        let id = registeredID
        server.adopt(copy, on: target, handler: Successor(handler: successor)).whenFailure { error in
            logger.warning("connection lost while moving to another event loop: \(error)")
            if let id { runtime.connections.remove(id) }
            vhostLoop.execute { session.process([.close]) }
        }
    }

    /// A move given up before the handover: the held output comes here again, and reading resumes.
    private func stayHere(context: ChannelHandlerContext) {
        migration = .none
        if let session, let vhostLoop {
            let sink = makeSink(on: context.eventLoop)
            vhostLoop.execute { session.resumeOutput(to: sink) }
        }
        submitPending()
        resumeReading()
    }

    /// The successor's first step on its loop: the session's output now comes here.
    private func resumeAfterMove(context: ChannelHandlerContext) {
        continuesMovedConnection = false
        if let id = registeredID { runtime.connections.moved(id, to: context.channel) }
        if negotiated.heartbeat > 0 { startHeartbeats(seconds: negotiated.heartbeat, context: context) }
        if readsLarge {
            context.channel.setOption(.recvAllocator, value: AMQPServer.largeReadAllocator).whenFailure { _ in }
        }
        if let session, let vhostLoop {
            let sink = makeSink(on: context.eventLoop)
            vhostLoop.execute { session.resumeOutput(to: sink) }
        }
        submitPending()
        logger.debug("the connection moved to another event loop")
        context.fireChannelActive()
    }
}
