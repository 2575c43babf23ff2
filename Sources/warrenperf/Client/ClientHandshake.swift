import AMQPProtocol

/// The client side of connection.start / tune / open, as a value: each method received on
/// channel 0 during the handshake returns what to do next. Heartbeats are turned off (a load
/// tool keeps its sockets busy), frame_max is the broker's, capped at 128 KiB.
struct ClientHandshake {
    enum State {
        case awaitingStart
        case awaitingTune
        case awaitingOpenOk(ConnectionTuneOk)
        case open
        case failed
    }

    enum Action {
        /// Send these methods on channel 0, in order.
        case send([AMQPMethod])
        /// The connection is open with these limits.
        case opened(frameMax: UInt32, channelMax: UInt16)
        /// Give up: the broker refused, or spoke out of turn.
        case fail(ClientError)
    }

    static let preferredFrameMax: UInt32 = 131_072
    static let preferredChannelMax: UInt16 = 2047

    private(set) var state = State.awaitingStart
    let uri: AMQPURI
    let connectionName: String

    init(uri: AMQPURI, connectionName: String) {
        self.uri = uri
        self.connectionName = connectionName
    }

    mutating func received(_ method: AMQPMethod) -> Action {
        switch (state, method) {
        case (.awaitingStart, .connectionStart(let start)):
            let mechanisms = String(decoding: start.mechanisms, as: UTF8.self)
            guard mechanisms.split(separator: " ").contains("PLAIN") else {
                state = .failed
                return .fail(.noSupportedMechanism(mechanisms))
            }
            state = .awaitingTune
            let response = Array("\0\(uri.user)\0\(uri.password)".utf8)
            return .send([
                .connectionStartOk(
                    ConnectionStartOk(
                        clientProperties: clientProperties, mechanism: "PLAIN", response: response, locale: "en_US"))
            ])
        case (.awaitingTune, .connectionTune(let tune)):
            let tuned = ConnectionTuneOk(
                channelMax: tune.channelMax == 0
                    ? Self.preferredChannelMax : min(tune.channelMax, Self.preferredChannelMax),
                frameMax: tune.frameMax == 0 ? Self.preferredFrameMax : min(tune.frameMax, Self.preferredFrameMax),
                heartbeat: 0)
            state = .awaitingOpenOk(tuned)
            return .send([.connectionTuneOk(tuned), .connectionOpen(ConnectionOpen(virtualHost: uri.virtualHost))])
        case (.awaitingOpenOk(let tuned), .connectionOpenOk):
            state = .open
            return .opened(frameMax: tuned.frameMax, channelMax: tuned.channelMax)
        case (_, .connectionClose(let close)):
            state = .failed
            return .fail(.connectionClosed(code: close.replyCode, text: close.replyText))
        case (.awaitingTune, .connectionSecure):
            state = .failed
            return .fail(.protocolViolation("connection.secure is not supported by PLAIN"))
        default:
            state = .failed
            return .fail(.protocolViolation("unexpected \(method.name) during the handshake"))
        }
    }

    private var clientProperties: FieldTable {
        [
            "product": .string("warrenperf"),
            "platform": .string("Swift/SwiftNIO"),
            "connection_name": .string(connectionName),
            "capabilities": .table([
                "publisher_confirms": .boolean(true),
                "consumer_cancel_notify": .boolean(true),
                "basic.nack": .boolean(true),
                "connection.blocked": .boolean(true),
                "authentication_failure_close": .boolean(true),
            ]),
        ]
    }
}
