import AMQPProtocol

/// A protocol error raised by the broker core: a reply code, the text clients see, and whether
/// it closes the channel or the whole connection.
public struct BrokerError: Error, Sendable, Equatable {
    public enum Scope: Sendable { case channel, connection }

    public var scope: Scope
    public var replyCode: UInt16
    public var text: String

    public init(_ scope: Scope, _ replyCode: UInt16, _ detail: String) {
        self.scope = scope
        self.replyCode = replyCode
        self.text = Self.shortString("\(ReplyCode.name(replyCode)) - \(detail)")
    }

    /// Reply texts are short strings: longer ones are cut to 255 bytes ending in "...", as
    /// RabbitMQ cuts them.
    public static func shortString(_ text: String) -> String {
        let bytes = Array(text.utf8)
        guard bytes.count > 255 else { return text }
        var cut = 252
        while cut > 0 && (bytes[cut] & 0xC0) == 0x80 { cut -= 1 }
        return String(decoding: bytes[..<cut], as: UTF8.self) + "..."
    }

    public static func notFound(_ detail: String) -> BrokerError { .init(.channel, ReplyCode.notFound, detail) }
    public static func accessRefused(_ detail: String) -> BrokerError {
        .init(.channel, ReplyCode.accessRefused, detail)
    }
    public static func resourceLocked(_ detail: String) -> BrokerError {
        .init(.channel, ReplyCode.resourceLocked, detail)
    }
    public static func preconditionFailed(_ detail: String) -> BrokerError {
        .init(.channel, ReplyCode.preconditionFailed, detail)
    }
    public static func notAllowed(_ detail: String) -> BrokerError {
        .init(.connection, ReplyCode.notAllowed, detail)
    }
    public static func commandInvalid(_ detail: String) -> BrokerError {
        .init(.connection, ReplyCode.commandInvalid, detail)
    }
    public static func notImplemented(_ detail: String) -> BrokerError {
        .init(.connection, ReplyCode.notImplemented, detail)
    }
}
