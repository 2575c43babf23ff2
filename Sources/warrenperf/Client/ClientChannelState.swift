import AMQPProtocol
import NIOCore

/// One open channel as its connection handler sees it: the replies awaited (synchronous
/// methods are answered in order), the message being received, and who listens.
final class ClientChannelState {
    let id: UInt16
    var observer: ChannelObserver?
    var pendingReplies = CircularBuffer<EventLoopPromise<AMQPMethod>>()
    var content: IncomingContent?
    /// Set once the channel is closed; later calls fail with it.
    var closedBy: ClientError?

    init(id: UInt16) {
        self.id = id
    }

    /// Fails everything still waiting and tells the observer, once.
    func close(because error: ClientError) {
        guard closedBy == nil else { return }
        closedBy = error
        while let promise = pendingReplies.popFirst() { promise.fail(error) }
        content = nil
        let observer = self.observer
        self.observer = nil
        observer?.closed(error)
    }
}
