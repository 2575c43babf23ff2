import AMQPProtocol
import NIOCore
import WarrenCore

/// A channel as the connection's frame layer sees it: open, collecting a publish's content
/// (method, then header, then body frames), or closing after the server closed it.
struct ChannelFrameState {
    enum State {
        case idle
        case expectingHeader(BasicPublish)
        case expectingBody(BasicPublish, properties: RawProperties, remaining: UInt64, body: ByteBuffer?)
        /// The server sent channel.close: drop everything but close/close-ok.
        case closing
    }

    var state: State = .idle

    enum Outcome {
        case none
        case publish(SessionCommand)
        /// The content is refused: the session closes the channel; the frames that follow are
        /// dropped meanwhile.
        case refuse(SessionCommand)
        case unexpectedFrame(String, duringPublish: Bool)
    }

    mutating func publishStarted(_ publish: BasicPublish) {
        state = .expectingHeader(publish)
    }

    mutating func header(_ header: ContentHeader, channel: UInt16, maxMessageSize: UInt64) -> Outcome {
        guard case .expectingHeader(let publish) = state else {
            if case .expectingBody = state {
                return .unexpectedFrame(
                    "expected content body, got non content body frame instead", duringPublish: true)
            }
            return .unexpectedFrame("expected method frame, got non method frame instead", duringPublish: false)
        }
        guard header.classID == 60 else {
            return .unexpectedFrame(
                "expected content header for class 60, got one for class \(header.classID) instead",
                duringPublish: true)
        }
        if header.bodySize > maxMessageSize {
            // RabbitMQ refuses such a publish once its body is in; refused here, the body is
            // never gathered. Its frames are dropped until the client acknowledges the close.
            state = .closing
            let error = BrokerError(
                .channel, ReplyCode.preconditionFailed,
                "message size \(header.bodySize) is larger than configured max size \(maxMessageSize)")
            return .refuse(.fail(channel: channel, error, classID: 60, methodID: 40))
        }
        if header.bodySize == 0 {
            state = .idle
            return .publish(Self.command(channel, publish, header.properties, ByteBuffer()))
        }
        state = .expectingBody(publish, properties: header.properties, remaining: header.bodySize, body: nil)
        return .none
    }

    mutating func body(_ fragment: ByteBuffer, channel: UInt16) -> Outcome {
        guard case .expectingBody(let publish, let properties, let remaining, var body) = state else {
            if case .expectingHeader = state {
                return .unexpectedFrame(
                    "expected content header for class 60, got non content header frame instead", duringPublish: true)
            }
            return .unexpectedFrame("expected method frame, got non method frame instead", duringPublish: false)
        }
        // Leave the state first so `body` is uniquely referenced and grows in place.
        state = .idle
        let size = UInt64(fragment.readableBytes)
        if size > remaining {
            return .unexpectedFrame(
                "content body on channel \(channel) is longer than its header announced", duringPublish: true)
        }
        if body == nil && size == remaining {
            // The whole body in one frame: keep the slice, no copy.
            return .publish(Self.command(channel, publish, properties, fragment))
        }
        if body == nil {
            // Room for the announced size, up to a bound: a header may announce far more than
            // will ever come, and the buffer grows as the bytes do arrive.
            body = ByteBufferAllocator().buffer(capacity: Int(min(remaining, Self.largestPreallocation)))
        }
        var fragment = fragment
        body!.writeBuffer(&fragment)
        if size == remaining {
            return .publish(Self.command(channel, publish, properties, body!))
        }
        state = .expectingBody(publish, properties: properties, remaining: remaining - size, body: body)
        return .none
    }

    /// The most a body being assembled reserves before its bytes arrive.
    static let largestPreallocation: UInt64 = 8 * 1024 * 1024

    var isClosing: Bool {
        if case .closing = state { return true }
        return false
    }

    var isCollectingContent: Bool {
        switch state {
        case .expectingHeader, .expectingBody: return true
        default: return false
        }
    }

    private static func command(
        _ channel: UInt16, _ publish: BasicPublish, _ properties: RawProperties, _ body: ByteBuffer
    ) -> SessionCommand {
        .publish(
            channel: channel, mandatory: publish.mandatory, immediate: publish.immediate,
            message: Message(
                exchange: publish.exchange, routingKey: publish.routingKey, properties: properties, body: body))
    }
}
