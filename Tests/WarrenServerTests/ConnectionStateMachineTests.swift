import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore
@testable import WarrenServer

/// The connection handshake and close rules, as the state machine decides them.
@Suite struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine

    static func plain(_ user: String, _ password: String, authzid: String = "") -> [UInt8] {
        Array(authzid.utf8) + [0] + Array(user.utf8) + [0] + Array(password.utf8)
    }

    static func amqplain(_ user: String, _ password: String) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeFieldTable(["LOGIN": .string(user), "PASSWORD": .string(password)])
        // AMQPLAIN's response is the table without its length prefix.
        buffer.moveReaderIndex(forwardBy: 4)
        return Array(buffer.readableBytesView)
    }

    static func startOk(
        mechanism: String = "PLAIN", response: [UInt8] = plain("guest", "guest"), capabilities: FieldTable = [:]
    ) -> AMQPMethod {
        .connectionStartOk(
            ConnectionStartOk(
                clientProperties: ["product": .string("test"), "capabilities": .table(capabilities)],
                mechanism: mechanism, response: response, locale: "en_US"))
    }

    static func acceptGuest(_ c: Credentials) -> Bool { c.user == "guest" && c.password == "guest" }

    /// A machine that has received the protocol header.
    static func started(_ limits: Machine.Limits = .init()) -> Machine {
        var m = Machine(limits: limits)
        _ = m.protocolHeaderReceived(valid: true)
        return m
    }

    /// A machine that has authenticated and awaits tune-ok.
    static func tuning(_ limits: Machine.Limits = .init(), capabilities: FieldTable = [:]) -> Machine {
        var m = started(limits)
        _ = m.methodReceived(startOk(capabilities: capabilities), authenticate: acceptGuest)
        return m
    }

    static func open(capabilities: FieldTable = [:]) -> Machine {
        var m = tuning(capabilities: capabilities)
        _ = m.methodReceived(
            .connectionTuneOk(ConnectionTuneOk(channelMax: 2047, frameMax: 131072, heartbeat: 60)),
            authenticate: acceptGuest)
        _ = m.methodReceived(.connectionOpen(ConnectionOpen(virtualHost: "/")), authenticate: acceptGuest)
        return m
    }

    // MARK: Protocol header and connection.start

    @Test func validProtocolHeaderIsAnsweredWithConnectionStart() throws {
        var m = Machine(limits: .init())
        let action = m.protocolHeaderReceived(valid: true)
        guard case .send(.connectionStart(let start)) = action else {
            Issue.record("expected connection.start, got \(action)")
            return
        }
        #expect(start.versionMajor == 0)
        #expect(start.versionMinor == 9)
        #expect(String(decoding: start.mechanisms, as: UTF8.self) == "PLAIN AMQPLAIN")
        #expect(String(decoding: start.locales, as: UTF8.self) == "en_US")
        #expect(start.serverProperties["product"]?.stringValue == "Warren")
        #expect(start.serverProperties["version"]?.stringValue == WarrenVersion.string)
        guard case .table(let capabilities)? = start.serverProperties["capabilities"] else {
            Issue.record("no capabilities table")
            return
        }
        for name in [
            "publisher_confirms", "exchange_exchange_bindings", "basic.nack", "consumer_cancel_notify",
            "connection.blocked", "authentication_failure_close", "per_consumer_qos", "direct_reply_to",
        ] {
            #expect(capabilities[name] == .boolean(true), "capability \(name)")
        }
    }

    @Test func wrongProtocolHeaderIsRejectedAndTheConnectionEnds() {
        var m = Machine(limits: .init())
        #expect(m.protocolHeaderReceived(valid: false) == .rejectProtocolHeader)
        #expect(m.isClosing)
        #expect(m.protocolHeaderReceived(valid: true) == .none)
    }

    @Test func methodBeforeStartOkEndsTheConnectionWithoutAReplyAsInRabbitMQ() {
        // rabbit_reader:handle_exception: an error before the connection is tuned (other than
        // a refused login or failed negotiation) closes the socket without connection.close.
        var m = Self.started()
        let action = m.methodReceived(.connectionOpen(ConnectionOpen(virtualHost: "/")), authenticate: Self.acceptGuest)
        #expect(m.isClosing)
        #expect(action == .closeSocket)
    }

    // MARK: Authentication

    @Test func plainCredentialsAreCheckedAndAnsweredWithTune() {
        var m = Self.started(.init(channelMax: 100, frameMax: 65536, heartbeat: 30))
        var seen: Credentials?
        let action = m.methodReceived(Self.startOk(response: Self.plain("guest", "guest", authzid: "ignored"))) {
            seen = $0
            return true
        }
        #expect(seen == Credentials(mechanism: "PLAIN", response: Self.plain("guest", "guest")))
        #expect(seen?.user == "guest" && seen?.password == "guest")
        #expect(action == .send(.connectionTune(ConnectionTune(channelMax: 100, frameMax: 65536, heartbeat: 30))))
    }

    @Test func amqplainCredentialsAreAccepted() {
        var m = Self.started()
        var seen: Credentials?
        let action = m.methodReceived(Self.startOk(mechanism: "AMQPLAIN", response: Self.amqplain("guest", "secret"))) {
            seen = $0
            return true
        }
        #expect(seen?.user == "guest")
        #expect(seen?.password == "secret")
        guard case .send(.connectionTune) = action else {
            Issue.record("expected connection.tune, got \(action)")
            return
        }
    }

    @Test func badPasswordWithoutAuthenticationFailureCloseJustClosesTheSocket() {
        var m = Self.started()
        #expect(
            m.methodReceived(Self.startOk(response: Self.plain("guest", "wrong")), authenticate: Self.acceptGuest)
                == .closeSocket)
        #expect(m.isClosing)
    }

    @Test func badPasswordWithAuthenticationFailureCloseSendsAccessRefused() {
        var m = Self.started()
        let action = m.methodReceived(
            Self.startOk(
                response: Self.plain("guest", "wrong"), capabilities: ["authentication_failure_close": .boolean(true)]),
            authenticate: Self.acceptGuest)
        #expect(
            action
                == .close(
                    replyCode: 403,
                    text: "ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. "
                        + "For details see the broker logfile.", classID: 0, methodID: 0))
        // The client's close-ok then ends the connection.
        #expect(
            m.methodReceived(.connectionCloseOk(ConnectionCloseOk()), authenticate: Self.acceptGuest) == .closeSocket)
    }

    @Test func malformedPlainResponseIsARefusedLogin() {
        var m = Self.started()
        var asked = false
        let action = m.methodReceived(Self.startOk(response: Array("guestguest".utf8))) { _ in
            asked = true
            return true
        }
        #expect(!asked)
        #expect(action == .closeSocket)
    }

    @Test func unknownMechanismIsCommandInvalid() {
        var m = Self.started()
        let action = m.methodReceived(Self.startOk(mechanism: "EXTERNAL", response: []), authenticate: Self.acceptGuest)
        guard case .close(503, let text, 10, 11) = action else {
            Issue.record("expected close 503 10/11, got \(action)")
            return
        }
        #expect(text.contains("EXTERNAL"))
    }

    @Test func clientCapabilitiesAreCarriedToTheSession() {
        var m = Self.tuning(capabilities: [
            "consumer_cancel_notify": .boolean(true), "connection.blocked": .boolean(true),
        ])
        _ = m.methodReceived(
            .connectionTuneOk(ConnectionTuneOk(channelMax: 10, frameMax: 4096, heartbeat: 0)),
            authenticate: Self.acceptGuest)
        let action = m.methodReceived(.connectionOpen(ConnectionOpen(virtualHost: "/")), authenticate: Self.acceptGuest)
        #expect(
            action
                == .openVhost(
                    name: "/", user: "guest",
                    capabilities: ClientCapabilities(consumerCancelNotify: true, connectionBlocked: true)))
        #expect(m.isOpen)
    }

    // MARK: Tuning

    @Test func acceptableTuneOkIsNegotiated() {
        var m = Self.tuning()
        #expect(
            m.methodReceived(
                .connectionTuneOk(ConnectionTuneOk(channelMax: 10, frameMax: 4096, heartbeat: 5)),
                authenticate: Self.acceptGuest)
                == .tuned(.init(channelMax: 10, frameMax: 4096, heartbeat: 5)))
        #expect(
            m.methodReceived(.connectionOpen(ConnectionOpen(virtualHost: "/")), authenticate: Self.acceptGuest)
                == .openVhost(name: "/", user: "guest", capabilities: ClientCapabilities()))
    }

    @Test func tuneOkAtTheServerMaximumsIsAccepted() {
        var m = Self.tuning()
        #expect(
            m.methodReceived(
                .connectionTuneOk(ConnectionTuneOk(channelMax: 2047, frameMax: 131072, heartbeat: 0)),
                authenticate: Self.acceptGuest)
                == .tuned(.init(channelMax: 2047, frameMax: 131072, heartbeat: 0)))
    }

    @Test(arguments: [
        ConnectionTuneOk(channelMax: 10, frameMax: 4095, heartbeat: 0),
        ConnectionTuneOk(channelMax: 10, frameMax: 1024, heartbeat: 0),
        ConnectionTuneOk(channelMax: 10, frameMax: 131073, heartbeat: 0),
        ConnectionTuneOk(channelMax: 10, frameMax: 0, heartbeat: 0),
        ConnectionTuneOk(channelMax: 0, frameMax: 131072, heartbeat: 0),
        ConnectionTuneOk(channelMax: 2048, frameMax: 131072, heartbeat: 0),
    ])
    func tuneOkOutsideTheLimitsIsNotAllowed(_ tuneOk: ConnectionTuneOk) {
        var m = Self.tuning()
        let action = m.methodReceived(.connectionTuneOk(tuneOk), authenticate: Self.acceptGuest)
        guard case .close(530, let text, 10, 31) = action else {
            Issue.record("expected close 530 10/31, got \(action)")
            return
        }
        #expect(text.hasPrefix("NOT_ALLOWED - negotiated "))
        #expect(m.isClosing)
    }

    // MARK: Open and close

    @Test func openAsksForTheVhostAndUnknownVhostIsNotAllowed() {
        var m = Self.tuning()
        _ = m.methodReceived(
            .connectionTuneOk(ConnectionTuneOk(channelMax: 1, frameMax: 4096, heartbeat: 0)),
            authenticate: Self.acceptGuest)
        #expect(
            m.methodReceived(.connectionOpen(ConnectionOpen(virtualHost: "other")), authenticate: Self.acceptGuest)
                == .openVhost(name: "other", user: "guest", capabilities: ClientCapabilities()))
        guard case .close(530, let text, 10, 40) = m.vhostNotFound("other") else {
            Issue.record("expected close 530 10/40")
            return
        }
        #expect(text.contains("other"))
    }

    @Test func clientCloseIsAnsweredWithCloseOk() {
        var m = Self.open()
        #expect(
            m.methodReceived(
                .connectionClose(ConnectionClose(replyCode: 200, replyText: "bye")), authenticate: Self.acceptGuest)
                == .acceptClose)
        #expect(m.isClosing)
        #expect(m.methodReceived(.connectionCloseOk(ConnectionCloseOk()), authenticate: Self.acceptGuest) == .none)
    }

    @Test func clientMayCloseDuringTheHandshake() {
        var m = Self.tuning()
        #expect(m.methodReceived(.connectionClose(ConnectionClose()), authenticate: Self.acceptGuest) == .acceptClose)
    }

    @Test func serverCloseWaitsForCloseOkAndIgnoresEverythingElse() {
        var m = Self.open()
        #expect(
            m.fail(320, "shutdown", classID: 0, methodID: 0)
                == .close(replyCode: 320, text: "CONNECTION_FORCED - shutdown", classID: 0, methodID: 0))
        // A second error while closing sends nothing more.
        #expect(m.fail(541, "again", classID: 0, methodID: 0) == .none)
        #expect(m.methodReceived(.connectionOpen(ConnectionOpen()), authenticate: Self.acceptGuest) == .none)
        #expect(
            m.methodReceived(.connectionCloseOk(ConnectionCloseOk()), authenticate: Self.acceptGuest) == .closeSocket)
    }

    @Test func simultaneousCloseIsAnsweredWithCloseOk() {
        var m = Self.open()
        _ = m.close(replyCode: 530, text: "NOT_ALLOWED - x", classID: 60, methodID: 20)
        #expect(m.methodReceived(.connectionClose(ConnectionClose()), authenticate: Self.acceptGuest) == .acceptClose)
    }

    @Test func updateSecretIsAcknowledgedWhenOpen() {
        var m = Self.open()
        #expect(
            m.methodReceived(
                .connectionUpdateSecret(ConnectionUpdateSecret(newSecret: [1], reason: "r")),
                authenticate: Self.acceptGuest)
                == .send(.connectionUpdateSecretOk(ConnectionUpdateSecretOk())))
    }

    @Test func unexpectedMethodWhenOpenClosesTheConnectionAsInRabbitMQ() {
        var m = Self.open()
        let action = m.methodReceived(.queueDeclare(QueueDeclare(queue: "q")), authenticate: Self.acceptGuest)
        guard case .close(let code, _, 50, 10) = action else {
            Issue.record("expected close 50/10, got \(action)")
            return
        }
        #expect(code == 504)
    }

    @Test func repeatedStartOkWhenOpenIsChannelErrorAsInRabbitMQ() {
        var m = Self.open()
        let action = m.methodReceived(Self.startOk(), authenticate: Self.acceptGuest)
        guard case .close(let code, _, 10, 11) = action else {
            Issue.record("expected close 10/11, got \(action)")
            return
        }
        #expect(code == 504)
    }
}
