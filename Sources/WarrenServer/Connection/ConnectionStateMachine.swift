import AMQPProtocol
import WarrenCore

/// The connection handshake and close, as a plain value: events in, actions out. The channel
/// handler performs the actions; no socket is touched here, so every rule is unit-testable.
struct ConnectionStateMachine {
    struct Limits: Sendable {
        var channelMax: UInt16 = 2047
        var frameMax: UInt32 = 131072
        var heartbeat: UInt16 = 60
        /// `max_message_size`: the largest body a publish may announce.
        var maxMessageSize = UInt64(BrokerConfiguration.defaultMaxMessageSize)
    }

    struct Negotiated: Equatable {
        var channelMax: UInt16
        var frameMax: UInt32
        var heartbeat: UInt16
    }

    enum State {
        case awaitingProtocolHeader
        case awaitingStartOk
        case awaitingTuneOk(user: String, capabilities: ClientCapabilities)
        case awaitingOpen(user: String, capabilities: ClientCapabilities)
        case open
        /// We sent connection.close and wait for close-ok.
        case closing
        case closed
    }

    enum Action: Equatable {
        case none
        /// Wrong protocol header: send ours and close the socket.
        case rejectProtocolHeader
        case send(AMQPMethod)
        case tuned(Negotiated)
        /// Authenticated and tuned: look up the vhost and open a session.
        case openVhost(name: String, user: String, capabilities: ClientCapabilities)
        /// Send connection.close and wait for close-ok.
        case close(replyCode: UInt16, text: String, classID: UInt16, methodID: UInt16)
        /// Reply close-ok to the client's close, then close the socket.
        case acceptClose
        case closeSocket
    }

    private(set) var state: State = .awaitingProtocolHeader
    let limits: Limits
    static let minimumFrameMax: UInt32 = 4096

    init(limits: Limits) {
        self.limits = limits
    }

    var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    var isClosing: Bool {
        switch state {
        case .closing, .closed: return true
        default: return false
        }
    }

    mutating func protocolHeaderReceived(valid: Bool) -> Action {
        guard case .awaitingProtocolHeader = state else { return .none }
        guard valid else {
            state = .closed
            return .rejectProtocolHeader
        }
        state = .awaitingStartOk
        return .send(.connectionStart(Self.start()))
    }

    static func start() -> ConnectionStart {
        var capabilities = FieldTable()
        for name in [
            "publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
            "connection.blocked", "authentication_failure_close", "per_consumer_qos", "direct_reply_to",
        ] {
            capabilities[name] = .boolean(true)
        }
        let properties: FieldTable = [
            "capabilities": .table(capabilities),
            "product": .string("Warren"),
            "version": .string(WarrenVersion.string),
            "platform": .string("Swift"),
            "cluster_name": .string("warren"),
            "copyright": .string("Warren developers"),
            "information": .string("An AMQP 0-9-1 message broker in Swift"),
        ]
        return ConnectionStart(
            versionMajor: 0, versionMinor: 9, serverProperties: properties,
            mechanisms: Array("PLAIN AMQPLAIN".utf8), locales: Array("en_US".utf8))
    }

    /// Handles a connection-class method (channel 0).
    mutating func methodReceived(
        _ method: AMQPMethod, authenticate: (Credentials) -> Bool
    ) -> Action {
        switch (state, method) {
        case (.awaitingStartOk, .connectionStartOk(let m)):
            let capabilities = ClientCapabilities(clientProperties: m.clientProperties)
            guard let credentials = Credentials(mechanism: m.mechanism, response: m.response) else {
                if m.mechanism != "PLAIN" && m.mechanism != "AMQPLAIN" {
                    return fail(
                        ReplyCode.commandInvalid,
                        "unknown authentication mechanism '\(m.mechanism)'", method)
                }
                return refuseLogin(m.mechanism, capabilities)
            }
            guard authenticate(credentials) else { return refuseLogin(m.mechanism, capabilities) }
            state = .awaitingTuneOk(user: credentials.user, capabilities: capabilities)
            return .send(
                .connectionTune(
                    ConnectionTune(
                        channelMax: limits.channelMax, frameMax: limits.frameMax, heartbeat: limits.heartbeat)))

        case (.awaitingTuneOk(let user, let capabilities), .connectionTuneOk(let m)):
            if let error = validate("channel_max", UInt32(m.channelMax), min: 1, max: UInt32(limits.channelMax)) {
                return fail(ReplyCode.notAllowed, error, method)
            }
            if let error = validate("frame_max", m.frameMax, min: Self.minimumFrameMax, max: limits.frameMax) {
                return fail(ReplyCode.notAllowed, error, method)
            }
            state = .awaitingOpen(user: user, capabilities: capabilities)
            return .tuned(
                Negotiated(channelMax: m.channelMax, frameMax: m.frameMax, heartbeat: m.heartbeat))

        case (.awaitingOpen(let user, let capabilities), .connectionOpen(let m)):
            state = .open
            return .openVhost(name: m.virtualHost, user: user, capabilities: capabilities)

        case (.open, .connectionClose), (.awaitingOpen, .connectionClose), (.awaitingTuneOk, .connectionClose):
            state = .closed
            return .acceptClose
        case (.closing, .connectionClose):
            // Both sides closing at once: answer and finish.
            state = .closed
            return .acceptClose
        case (.closing, .connectionCloseOk):
            state = .closed
            return .closeSocket
        case (.closing, _), (.closed, _):
            return .none
        case (.open, .connectionUpdateSecret):
            return .send(.connectionUpdateSecretOk(ConnectionUpdateSecretOk()))
        case (.open, .connectionBlocked), (.open, .connectionUnblocked):
            return .none
        case (.open, _):
            return fail(ReplyCode.channelError, "unexpected method in connection state running", method)
        case (.awaitingStartOk, _), (.awaitingTuneOk, _):
            // Before the connection is tuned RabbitMQ just drops the socket.
            state = .closed
            return .closeSocket
        default:
            return fail(ReplyCode.commandInvalid, "unexpected method \(method.name) in this state", method)
        }
    }

    /// The vhost named in connection.open does not exist.
    mutating func vhostNotFound(_ name: String) -> Action {
        fail(ReplyCode.notAllowed, "vhost \(name) not found", .connectionOpen(ConnectionOpen(virtualHost: name)))
    }

    /// Any connection-level error found elsewhere (framing, a session's connection error).
    mutating func fail(_ replyCode: UInt16, _ detail: String, classID: UInt16, methodID: UInt16) -> Action {
        guard !isClosing else { return .none }
        state = .closing
        return .close(
            replyCode: replyCode, text: "\(ReplyCode.name(replyCode)) - \(detail)", classID: classID, methodID: methodID
        )
    }

    /// A close whose text is already complete (from a session).
    mutating func close(replyCode: UInt16, text: String, classID: UInt16, methodID: UInt16) -> Action {
        guard !isClosing else { return .none }
        state = .closing
        return .close(replyCode: replyCode, text: text, classID: classID, methodID: methodID)
    }

    private mutating func fail(_ code: UInt16, _ detail: String, _ method: AMQPMethod) -> Action {
        fail(code, detail, classID: method.classID, methodID: method.methodID)
    }

    private mutating func refuseLogin(_ mechanism: String, _ capabilities: ClientCapabilities) -> Action {
        let text =
            "ACCESS_REFUSED - Login was refused using authentication mechanism \(mechanism). "
            + "For details see the broker logfile."
        guard capabilities.authenticationFailureClose else {
            state = .closed
            return .closeSocket
        }
        state = .closing
        return .close(replyCode: ReplyCode.accessRefused, text: text, classID: 0, methodID: 0)
    }

    private func validate(_ field: String, _ value: UInt32, min: UInt32, max: UInt32) -> String? {
        if value != 0 && value < min {
            return "negotiated \(field) = \(value) is lower than the minimum allowed value (\(min))"
        }
        if max != 0 && (value == 0 || value > max) {
            return "negotiated \(field) = \(value) is higher than the maximum allowed value (\(max))"
        }
        return nil
    }
}

public enum WarrenVersion {
    public static let string = "0.1.0"
}
