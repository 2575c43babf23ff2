import AMQPProtocol
import NIOCore

/// The client end of one AMQP connection, on its event loop: bytes in, frames dispatched to
/// channels; frames out, gathered in one buffer and flushed once per loop tick.
///
/// The frames a load tool receives by the million (basic.deliver, content headers, body frames)
/// are read in place without building values; every other frame goes through `FrameDecoder`.
final class AMQPClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Completed when the connection is open, failed if the handshake fails.
    let opened: EventLoopPromise<Void>
    let eventLoop: EventLoop
    private(set) var frameMax = ClientHandshake.preferredFrameMax
    private(set) var failure: ClientError?
    /// The broker blocked publishing (connection.blocked) and has not unblocked it yet.
    private(set) var isBlocked = false

    private var handshake: ClientHandshake
    private var context: ChannelHandlerContext?
    private var decoder = FrameDecoder(maxFrameSize: 0)
    private var inbound: ByteBuffer?
    private var outbound: ByteBuffer
    private var needsFlush = false
    private var flushScheduled = false
    private var channels: [ClientChannelState?] = []
    private var isOpen = false
    private var handshakeDone = false
    private var closing: EventLoopPromise<Void>?

    init(uri: AMQPURI, name: String, eventLoop: EventLoop) {
        self.eventLoop = eventLoop
        self.opened = eventLoop.makePromise()
        self.handshake = ClientHandshake(uri: uri, connectionName: name)
        self.outbound = ByteBufferAllocator().buffer(capacity: 4096)
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        outbound.writeProtocolHeader()
        flush()
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        let timeout = eventLoop.scheduleTask(in: .seconds(15)) { handler.value.fail(.handshakeTimedOut) }
        opened.futureResult.whenComplete { _ in timeout.cancel() }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if inbound == nil {
            inbound = bytes
        } else {
            inbound!.writeImmutableBuffer(bytes)
        }
        readFrames()
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        for case let channel? in channels { channel.observer?.readBurstEnded() }
        flush()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        guard context.channel.isWritable else { return }
        for case let channel? in channels { channel.observer?.becameWritable() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        shutDown(failure ?? .connectionLost)
        closing?.succeed()
        closing = nil
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(.protocolViolation("\(error)"))
    }

    // MARK: Reading

    private func readFrames() {
        guard var buffer = inbound else { return }
        inbound = nil
        while failure == nil && buffer.readableBytes >= 7 {
            let start = buffer.readerIndex
            let type = buffer.getInteger(at: start, as: UInt8.self)!
            let channel = buffer.getInteger(at: start + 1, as: UInt16.self)!
            let size = Int(buffer.getInteger(at: start + 3, as: UInt32.self)!)
            guard buffer.readableBytes >= size + FrameType.overhead else { break }
            guard buffer.getInteger(at: start + 7 + size, as: UInt8.self) == FrameType.frameEnd else {
                return fail(.protocolViolation("a frame does not end with 0xCE"))
            }
            // After our connection.close only close-ok (or the broker's close) matters.
            if closing != nil && (type != FrameType.method || channel != 0) {
                buffer.moveReaderIndex(forwardBy: size + FrameType.overhead)
                continue
            }
            switch type {
            case FrameType.body:
                receivedBody(channel: channel, length: size)
                buffer.moveReaderIndex(forwardBy: size + FrameType.overhead)
            case FrameType.header:
                guard size >= 14 else { return fail(.protocolViolation("content header frame too short")) }
                let bodySize = buffer.getInteger(at: start + 11, as: UInt64.self)!
                let properties = RawProperties(bytes: buffer.getSlice(at: start + 19, length: size - 12)!)
                receivedHeader(channel: channel, bodySize: bodySize, properties: properties)
                buffer.moveReaderIndex(forwardBy: size + FrameType.overhead)
            case FrameType.method where size >= 4 && buffer.getInteger(at: start + 7, as: UInt32.self) == 0x003C_003C:
                guard let (tag, redelivered) = Self.deliveryTag(in: buffer, payloadAt: start + 7, size: size) else {
                    return fail(.protocolViolation("malformed basic.deliver"))
                }
                beginContent(channel: channel, .deliver(tag: tag, redelivered: redelivered))
                buffer.moveReaderIndex(forwardBy: size + FrameType.overhead)
            default:
                do {
                    guard let frame = try decoder.next(from: &buffer) else { break }
                    received(frame)
                } catch {
                    return fail(.protocolViolation(error.description))
                }
            }
        }
        if buffer.readableBytes > 0 {
            // Keep only the partial frame, at the front: the next read is appended after it, and
            // the buffer must not grow by every read it has ever held.
            buffer.discardReadBytes()
            inbound = buffer
        }
    }

    /// The delivery tag and redelivered flag of a basic.deliver payload, read in place (the
    /// consumer tag before them is skipped; the exchange and routing key after them ignored).
    private static func deliveryTag(in buffer: ByteBuffer, payloadAt payload: Int, size: Int) -> (UInt64, Bool)? {
        let end = payload + size
        guard let tagLength = buffer.getInteger(at: payload + 4, as: UInt8.self) else { return nil }
        let tagAt = payload + 5 + Int(tagLength)
        guard tagAt + 9 <= end, let tag = buffer.getInteger(at: tagAt, as: UInt64.self),
            let redelivered = buffer.getInteger(at: tagAt + 8, as: UInt8.self)
        else { return nil }
        return (tag, redelivered & 1 != 0)
    }

    private func received(_ frame: Frame) {
        switch frame {
        case .method(0, let method):
            receivedOnConnection(method)
        case .method(let channel, let method):
            guard let state = openChannel(channel) else { return }
            receivedOnChannel(state, method)
        case .header(let channel, let header):
            receivedHeader(channel: channel, bodySize: header.bodySize, properties: header.properties)
        case .body(let channel, let payload):
            receivedBody(channel: channel, length: payload.readableBytes)
        case .heartbeat:
            break
        }
    }

    private func openChannel(_ id: UInt16) -> ClientChannelState? {
        guard Int(id) < channels.count, let state = channels[Int(id)] else {
            fail(.protocolViolation("a frame on channel \(id), which is not open"))
            return nil
        }
        return state
    }

    private func beginContent(channel: UInt16, _ announcement: IncomingContent.Announcement) {
        guard let state = openChannel(channel) else { return }
        guard state.content == nil else { return fail(.protocolViolation("a method in the middle of content")) }
        state.content = IncomingContent(announcement)
    }

    private func receivedHeader(channel: UInt16, bodySize: UInt64, properties: RawProperties) {
        guard let state = openChannel(channel) else { return }
        guard state.content?.awaitingHeader == true else {
            return fail(.protocolViolation("a content header on channel \(channel) without a method before it"))
        }
        state.content!.header(bodySize: bodySize, properties: properties)
        if state.content!.isComplete { completeContent(state) }
    }

    private func receivedBody(channel: UInt16, length: Int) {
        guard let state = openChannel(channel) else { return }
        guard state.content?.awaitingHeader == false, state.content!.body(length) else {
            return fail(.protocolViolation("an unexpected body frame on channel \(channel)"))
        }
        if state.content!.isComplete { completeContent(state) }
    }

    private func completeContent(_ state: ClientChannelState) {
        let content = state.content!
        state.content = nil
        if case .deliver(let tag, let redelivered) = content.announcement {
            state.observer?.delivered(
                tag: tag, redelivered: redelivered, properties: content.properties, bodySize: content.bodySize)
        }
    }

    private func receivedOnConnection(_ method: AMQPMethod) {
        guard isOpen else {
            switch handshake.received(method) {
            case .send(let methods):
                for method in methods { outbound.writeMethodFrame(channel: 0, method) }
                flush()
            case .opened(let frameMax, _):
                isOpen = true
                handshakeDone = true
                self.frameMax = frameMax
                decoder.maxFrameSize = frameMax
                opened.succeed()
            case .fail(let error):
                if case .connectionClosed = error { send(ConnectionCloseOk(), channel: 0) }
                fail(error)
            }
            return
        }
        switch method {
        case .connectionClose(let close):
            send(ConnectionCloseOk(), channel: 0)
            fail(.connectionClosed(code: close.replyCode, text: close.replyText))
        case .connectionCloseOk:
            context?.close(promise: nil)
        case .connectionBlocked:
            isBlocked = true
        case .connectionUnblocked:
            isBlocked = false
        default:
            break
        }
    }

    private func receivedOnChannel(_ state: ClientChannelState, _ method: AMQPMethod) {
        switch method {
        case .basicAck(let ack):
            state.observer?.confirmed(tag: ack.deliveryTag, multiple: ack.multiple, nacked: false)
        case .basicNack(let nack):
            state.observer?.confirmed(tag: nack.deliveryTag, multiple: nack.multiple, nacked: true)
        case .basicReturn:
            beginContent(channel: state.id, .other)
        case .basicDeliver(let deliver):
            beginContent(channel: state.id, .deliver(tag: deliver.deliveryTag, redelivered: deliver.redelivered))
        case .basicCancel(let cancel):
            state.observer?.consumerCancelled(tag: cancel.consumerTag)
        case .channelFlow(let flow):
            send(ChannelFlowOk(active: flow.active), channel: state.id)
        case .channelClose(let close):
            send(ChannelCloseOk(), channel: state.id)
            channels[Int(state.id)] = nil
            state.close(because: .channelClosed(channel: state.id, code: close.replyCode, text: close.replyText))
        case .basicGetOk:
            beginContent(channel: state.id, .other)
            state.pendingReplies.popFirst()?.succeed(method)
        default:
            guard let promise = state.pendingReplies.popFirst() else {
                return fail(.protocolViolation("\(method.name) on channel \(state.id), which awaits no reply"))
            }
            if case .channelCloseOk = method { channels[Int(state.id)] = nil }
            promise.succeed(method)
        }
    }

    // MARK: Writing

    /// Queues a method frame; it goes out at the end of this loop tick.
    func send<Method: AMQPMethodArguments>(_ method: Method, channel: UInt16) {
        outbound.writeMethodFrame(channel: channel, method)
        scheduleFlush()
    }

    func send(_ method: AMQPMethod, channel: UInt16) {
        outbound.writeMethodFrame(channel: channel, method)
        scheduleFlush()
    }

    /// Queues a whole message: basic.publish, its content header and body frames.
    func publish(_ method: BasicPublish, properties: RawProperties, body: ByteBuffer, channel: UInt16) {
        outbound.writeContent(channel: channel, method: method, properties: properties, body: body, frameMax: frameMax)
        scheduleFlush()
    }

    /// Writes ready-made frames (after anything queued before them); they go out at the next flush.
    func write(_ frames: ByteBuffer) {
        guard let context else { return }
        if outbound.readableBytes > 0 {
            context.write(wrapOutboundOut(outbound), promise: nil)
            outbound = context.channel.allocator.buffer(capacity: 4096)
        }
        context.write(wrapOutboundOut(frames), promise: nil)
        needsFlush = true
    }

    /// True while the socket's send buffer is below its high-water mark.
    var isWritable: Bool { context?.channel.isWritable ?? false }

    func flush() {
        flushScheduled = false
        guard let context else { return }
        if outbound.readableBytes > 0 {
            context.write(wrapOutboundOut(outbound), promise: nil)
            outbound = context.channel.allocator.buffer(capacity: 4096)
            needsFlush = true
        }
        if needsFlush {
            needsFlush = false
            context.flush()
        }
    }

    private func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        let handler = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.execute { if handler.value.flushScheduled { handler.value.flush() } }
    }

    // MARK: Channels and calls

    /// Opens channel `id`, with `observer` hearing what arrives on it.
    func openChannel(_ id: UInt16, observer: ChannelObserver? = nil) -> EventLoopFuture<Void> {
        if let failure { return eventLoop.makeFailedFuture(failure) }
        if Int(id) >= channels.count {
            channels.append(contentsOf: repeatElement(nil, count: Int(id) + 1 - channels.count))
        }
        let state = ClientChannelState(id: id)
        state.observer = observer
        channels[Int(id)] = state
        return call(.channelOpen(ChannelOpen()), channel: id).map { _ in }
    }

    /// Sets who hears what arrives on an open channel.
    func setObserver(_ observer: ChannelObserver?, channel id: UInt16) {
        guard Int(id) < channels.count, let state = channels[Int(id)] else { return }
        state.observer = observer
    }

    /// Sends a synchronous method and completes with the broker's reply (or fails when the
    /// channel or connection closes first).
    func call(_ method: AMQPMethod, channel id: UInt16) -> EventLoopFuture<AMQPMethod> {
        if let failure { return eventLoop.makeFailedFuture(failure) }
        guard Int(id) < channels.count, let state = channels[Int(id)] else {
            return eventLoop.makeFailedFuture(ClientError.protocolViolation("channel \(id) is not open"))
        }
        if let closed = state.closedBy { return eventLoop.makeFailedFuture(closed) }
        let promise = eventLoop.makePromise(of: AMQPMethod.self)
        state.pendingReplies.append(promise)
        send(method, channel: id)
        return promise.futureResult
    }

    /// Closes the connection politely (connection.close, then close-ok), or at once after 3 s.
    func close() -> EventLoopFuture<Void> {
        guard let context, context.channel.isActive else { return eventLoop.makeSucceededVoidFuture() }
        if let closing { return closing.futureResult }
        let promise = eventLoop.makePromise(of: Void.self)
        closing = promise
        if isOpen && failure == nil {
            send(ConnectionClose(replyCode: ReplyCode.success, replyText: "warrenperf done"), channel: 0)
            let handler = NIOLoopBound(self, eventLoop: eventLoop)
            let timeout = eventLoop.scheduleTask(in: .seconds(3)) { handler.value.context?.close(promise: nil) }
            promise.futureResult.whenComplete { _ in timeout.cancel() }
        } else {
            context.close(promise: nil)
        }
        closeChannels(because: .connectionClosed(code: ReplyCode.success, text: "closed by warrenperf"))
        return promise.futureResult
    }

    // MARK: Failure

    private func fail(_ error: ClientError) {
        guard failure == nil else { return }
        failure = error
        shutDown(error)
        flush()
        context?.close(promise: nil)
    }

    /// Fails the handshake, every call awaiting a reply, and tells every observer.
    private func shutDown(_ error: ClientError) {
        if failure == nil { failure = error }
        if !handshakeDone {
            handshakeDone = true
            opened.fail(error)
        }
        closeChannels(because: error)
    }

    private func closeChannels(because error: ClientError) {
        let open = channels
        channels.removeAll()
        for case let channel? in open { channel.close(because: error) }
    }
}
