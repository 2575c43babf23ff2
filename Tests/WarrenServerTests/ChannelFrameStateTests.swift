import AMQPProtocol
import NIOCore
import Testing

@testable import WarrenCore
@testable import WarrenServer

/// Assembling basic.publish content (method, header, body frames) into one message.
@Suite struct ChannelFrameStateTests {
    static let properties = RawProperties(BasicProperties(contentType: "text/plain", messageID: "m1"))
    static let maxMessageSize: UInt64 = 134_217_728

    /// The message of a publish outcome, or nil.
    static func published(_ outcome: ChannelFrameState.Outcome) -> (mandatory: Bool, message: Message)? {
        guard case .publish(let command) = outcome,
            case .publish(_, let mandatory, _, let message) = command
        else { return nil }
        return (mandatory, message)
    }

    static func isUnexpected(_ outcome: ChannelFrameState.Outcome) -> Bool {
        if case .unexpectedFrame = outcome { return true }
        return false
    }

    static func isNone(_ outcome: ChannelFrameState.Outcome) -> Bool {
        if case .none = outcome { return true }
        return false
    }

    func started(bodySize: UInt64) -> ChannelFrameState {
        var state = ChannelFrameState()
        state.publishStarted(BasicPublish(exchange: "ex", routingKey: "rk", mandatory: true))
        #expect(
            Self.isNone(
                state.header(
                    ContentHeader(bodySize: bodySize, properties: Self.properties), channel: 3,
                    maxMessageSize: Self.maxMessageSize)))
        return state
    }

    @Test func singleFrameBodyIsPassedThroughWithoutCopying() throws {
        var state = started(bodySize: 5)
        let fragment = ByteBuffer(string: "hello")
        let result = try #require(Self.published(state.body(fragment, channel: 3)))
        #expect(result.mandatory)
        #expect(result.message.exchange == "ex")
        #expect(result.message.routingKey == "rk")
        #expect(result.message.properties == Self.properties)
        #expect(String(buffer: result.message.body) == "hello")
        let same = fragment.withUnsafeReadableBytes { a in
            result.message.body.withUnsafeReadableBytes { b in a.baseAddress == b.baseAddress }
        }
        #expect(same, "the body should be the received slice, not a copy")
        #expect(!state.isCollectingContent)
    }

    @Test func publishCommandNamesItsChannel() throws {
        var state = started(bodySize: 1)
        guard
            case .publish(.publish(let channel, _, let immediate, _)) = state.body(ByteBuffer(string: "x"), channel: 3)
        else {
            Issue.record("expected a publish")
            return
        }
        #expect(channel == 3)
        #expect(!immediate)
    }

    @Test func multiFrameBodyIsAssembledInOrder() throws {
        var state = started(bodySize: 11)
        #expect(Self.isNone(state.body(ByteBuffer(string: "hel"), channel: 3)))
        #expect(state.isCollectingContent)
        #expect(Self.isNone(state.body(ByteBuffer(string: "lo wo"), channel: 3)))
        let result = try #require(Self.published(state.body(ByteBuffer(string: "rld"), channel: 3)))
        #expect(String(buffer: result.message.body) == "hello world")
        #expect(!state.isCollectingContent)
    }

    @Test func largeBodyInManyFramesIsAssembledExactly() throws {
        let chunks = (0..<100).map { i in String(repeating: Character(UnicodeScalar(UInt8(65 + i % 26))), count: 1000) }
        var state = started(bodySize: 100_000)
        for chunk in chunks.dropLast() {
            #expect(Self.isNone(state.body(ByteBuffer(string: chunk), channel: 3)))
        }
        let result = try #require(Self.published(state.body(ByteBuffer(string: chunks.last!), channel: 3)))
        #expect(String(buffer: result.message.body) == chunks.joined())
    }

    @Test func zeroSizeBodyPublishesAtTheHeader() throws {
        var state = ChannelFrameState()
        state.publishStarted(BasicPublish(exchange: "", routingKey: "q"))
        let result = try #require(
            Self.published(state.header(ContentHeader(bodySize: 0), channel: 1, maxMessageSize: Self.maxMessageSize)))
        #expect(result.message.bodySize == 0)
        #expect(!result.mandatory)
        #expect(!state.isCollectingContent)
        // No body frame is expected after it.
        #expect(Self.isUnexpected(state.body(ByteBuffer(string: "x"), channel: 1)))
    }

    @Test func bodyLongerThanAnnouncedIsAnUnexpectedFrame() {
        var state = started(bodySize: 3)
        #expect(Self.isUnexpected(state.body(ByteBuffer(string: "toolong"), channel: 3)))
    }

    @Test func laterFrameOverrunningTheAnnouncedSizeIsAnUnexpectedFrame() {
        var state = started(bodySize: 4)
        #expect(Self.isNone(state.body(ByteBuffer(string: "ab"), channel: 3)))
        #expect(Self.isUnexpected(state.body(ByteBuffer(string: "cde"), channel: 3)))
    }

    @Test func headerWithoutPublishIsAnUnexpectedFrame() {
        var state = ChannelFrameState()
        #expect(
            Self.isUnexpected(state.header(ContentHeader(bodySize: 1), channel: 1, maxMessageSize: Self.maxMessageSize))
        )
    }

    @Test func bodyWithoutHeaderIsAnUnexpectedFrame() {
        var idle = ChannelFrameState()
        #expect(Self.isUnexpected(idle.body(ByteBuffer(string: "x"), channel: 1)))
        var afterPublish = ChannelFrameState()
        afterPublish.publishStarted(BasicPublish())
        #expect(Self.isUnexpected(afterPublish.body(ByteBuffer(string: "x"), channel: 1)))
    }

    @Test func secondHeaderDuringABodyIsAnUnexpectedFrame() {
        var state = started(bodySize: 4)
        #expect(Self.isNone(state.body(ByteBuffer(string: "ab"), channel: 3)))
        #expect(
            Self.isUnexpected(state.header(ContentHeader(bodySize: 4), channel: 3, maxMessageSize: Self.maxMessageSize))
        )
    }

    @Test func stateIsReadyForTheNextPublishAfterOne() throws {
        var state = started(bodySize: 1)
        _ = state.body(ByteBuffer(string: "a"), channel: 3)
        state.publishStarted(BasicPublish(exchange: "", routingKey: "second"))
        #expect(Self.isNone(state.header(ContentHeader(bodySize: 1), channel: 3, maxMessageSize: Self.maxMessageSize)))
        let result = try #require(Self.published(state.body(ByteBuffer(string: "b"), channel: 3)))
        #expect(result.message.routingKey == "second")
        #expect(String(buffer: result.message.body) == "b")
    }

    @Test func contentLargerThanMaxMessageSizeIsRefusedAtItsHeaderAndItsFramesDropped() throws {
        var state = ChannelFrameState()
        state.publishStarted(BasicPublish(routingKey: "rk"))
        let outcome = state.header(ContentHeader(bodySize: 1 << 40), channel: 3, maxMessageSize: 1000)
        guard case .refuse(.fail(let channel, let error, let classID, let methodID)) = outcome else {
            Issue.record("expected the content refused, got \(outcome)")
            return
        }
        #expect(channel == 3 && classID == 60 && methodID == 40)
        #expect(error.scope == .channel && error.replyCode == 406)
        #expect(
            error.text == "PRECONDITION_FAILED - message size 1099511627776 is larger than configured max size 1000")
        #expect(state.isClosing)
        // Exactly the limit is accepted.
        var atLimit = ChannelFrameState()
        atLimit.publishStarted(BasicPublish(routingKey: "rk"))
        #expect(Self.isNone(atLimit.header(ContentHeader(bodySize: 1000), channel: 3, maxMessageSize: 1000)))
    }

    @Test func aBodyAnnouncedFarLargerThanItsFirstFrameIsGatheredWithoutReservingItAll() throws {
        var state = started(bodySize: 100 * 1024 * 1024)
        #expect(Self.isNone(state.body(ByteBuffer(string: "0123456789"), channel: 3)))
        guard case .expectingBody(_, _, let remaining, let body?) = state.state else {
            Issue.record("expected a body being gathered, got \(state.state)")
            return
        }
        #expect(remaining == 100 * 1024 * 1024 - 10)
        #expect(body.capacity <= Int(ChannelFrameState.largestPreallocation))
        #expect(String(buffer: body) == "0123456789")
    }
}
