import AMQPProtocol

/// A client connection as its vhost sees it: the channels and what is to be sent back.
///
/// Lives on the vhost's event loop. The server feeds it batches of commands with `process`,
/// and receives output through `sink` once per batch (one thread hop each way per batch).
public final class Session: @unchecked Sendable {
    public let id: UInt64
    public let user: String
    public let capabilities: ClientCapabilities
    let vhost: VirtualHost
    var channels: [UInt16: ChannelSession] = [:]

    /// Whether the client's socket accepts writes; consumers pause while it does not.
    public private(set) var writable = true
    private var outbox: [SessionOutput] = []
    private var completedBatches = 0
    /// Batches held back by flow control: while there are any, the connection is in `flow`.
    public private(set) var parkedBatches = 0
    private var awaitingFlush = false
    private var closingConnection = false
    private var closed = false
    var channelsWithConfirms: [ChannelSession] = []

    /// While the connection moves to another event loop its output waits here.
    private var outputHeld = false

    /// Receives the output of each batch and how many input batches it completes.
    public var sink: (@Sendable (_ output: [SessionOutput], _ completedBatches: Int) -> Void)?

    public init(id: UInt64, vhost: VirtualHost, user: String, capabilities: ClientCapabilities) {
        self.id = id
        self.vhost = vhost
        self.user = user
        self.capabilities = capabilities
    }

    /// Handles a batch of commands, then lets the vhost deliver and flush.
    ///
    /// Takes an array, not any collection: a generic one reached from another module would not be
    /// specialised, and each element read through the protocol allocates its accessor's frame.
    public func process(_ commands: [SessionCommand]) {
        for command in commands { handle(command) }
        if let (queue, messages) = vhost.takeFlowBatch() {
            queue.park(self, messages: messages)
            parkedBatches += 1
        } else {
            completedBatches += 1
        }
        requestFlush()
        vhost.endOfBatch()
    }

    /// A batch that flow control held back is complete: the connection may read again.
    func batchCompleted() {
        parkedBatches -= 1
        completedBatches += 1
        requestFlush()
    }

    func handle(_ command: SessionCommand) {
        guard !closed else { return }
        switch command {
        case .close:
            closed = true
            for channel in channels.values { channel.teardown() }
            channels.removeAll()
            vhost.sessionClosed(self)
        case .writable(let w):
            writable = w
            if w { for channel in channels.values { channel.resumeDeliveries() } }
        case .method(let number, let method):
            guard !closingConnection else { return }
            handleMethod(method, on: number)
        case .fail(let number, let error, let classID, let methodID):
            guard !closingConnection, let channel = channels[number], channel.isOpen else { return }
            fail(channel, error, classID: classID, methodID: methodID)
        case .publish(let number, let mandatory, let immediate, let message):
            guard !closingConnection, let channel = channels[number], channel.isOpen else { return }
            vhost.publishing = true
            defer { vhost.publishing = false }
            do {
                try channel.publish(message, mandatory: mandatory, immediate: immediate)
            } catch {
                fail(channel, error, classID: 60, methodID: 40)
            }
        }
    }

    private func handleMethod(_ method: AMQPMethod, on number: UInt16) {
        switch method {
        case .channelOpen:
            channels[number]?.teardown()
            channels[number] = ChannelSession(number: number, session: self)
            emit(.method(channel: number, .channelOpenOk(ChannelOpenOk())))
            return
        case .channelClose:
            if let channel = channels.removeValue(forKey: number) {
                channel.flushConfirms()
                channel.teardown()
            }
            emit(.method(channel: number, .channelCloseOk(ChannelCloseOk())))
            return
        case .channelCloseOk:
            channels.removeValue(forKey: number)?.teardown()
            return
        default:
            break
        }
        guard let channel = channels[number], channel.isOpen else { return }
        do {
            try channel.handle(method)
        } catch {
            fail(channel, error, classID: method.classID, methodID: method.methodID)
        }
    }

    /// A channel error closes the channel; a connection error closes the connection.
    private func fail(_ channel: ChannelSession, _ error: BrokerError, classID: UInt16, methodID: UInt16) {
        vhost.logger.info(
            "\(error.scope == .channel ? "channel" : "connection") error: \(error.text)",
            metadata: ["connection": "\(id)", "channel": "\(channel.number)", "method": "\(classID)/\(methodID)"])
        switch error.scope {
        case .channel:
            channel.flushConfirms()
            channel.teardown()
            channel.isOpen = false
            emit(
                .method(
                    channel: channel.number,
                    .channelClose(
                        ChannelClose(
                            replyCode: error.replyCode, replyText: error.text, classID: classID, methodID: methodID))))
        case .connection:
            closingConnection = true
            emit(
                .closeConnection(
                    replyCode: error.replyCode, replyText: error.text, classID: classID, methodID: methodID))
        }
    }

    func emit(_ output: SessionOutput) {
        outbox.append(output)
        requestFlush()
    }

    /// Appends output while a flush is already under way.
    func appendDuringFlush(_ output: SessionOutput) {
        outbox.append(output)
    }

    /// The connection is moving to another event loop: output waits until `resumeOutput`.
    public func holdOutput() { outputHeld = true }

    /// The connection has moved: what waited is sent to `sink` first, then all that follows.
    public func resumeOutput(to sink: @escaping @Sendable (_ output: [SessionOutput], _ completedBatches: Int) -> Void)
    {
        outputHeld = false
        self.sink = sink
        flush()
    }

    func requestFlush() {
        guard !awaitingFlush else { return }
        awaitingFlush = true
        vhost.sessionNeedsFlush(self)
    }

    /// Sends what the batch produced: pending publisher confirms first, then the outbox.
    func flush() {
        awaitingFlush = false
        if !channelsWithConfirms.isEmpty {
            let list = channelsWithConfirms
            channelsWithConfirms.removeAll(keepingCapacity: true)
            for channel in list { channel.flushConfirms() }
        }
        guard !outputHeld, !outbox.isEmpty || completedBatches > 0 else { return }
        let output = outbox
        outbox = []
        outbox.reserveCapacity(min(output.count, 1024))
        let batches = completedBatches
        completedBatches = 0
        sink?(output, batches)
    }
}
