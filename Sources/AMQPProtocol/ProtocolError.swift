/// A protocol violation found while decoding, carrying what a connection.close or channel.close
/// reporting it needs: the reply code, a human-readable text and the offending method's ids
/// (0 when no method is to blame).
public struct AMQPProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var replyCode: UInt16
    public var text: String
    public var classID: UInt16
    public var methodID: UInt16

    public init(replyCode: UInt16, text: String, classID: UInt16 = 0, methodID: UInt16 = 0) {
        self.replyCode = replyCode
        self.text = text
        self.classID = classID
        self.methodID = methodID
    }

    /// 501: a malformed frame (bad size, end octet, type or channel).
    public static func frameError(_ text: String) -> AMQPProtocolError {
        AMQPProtocolError(replyCode: ReplyCode.frameError, text: text)
    }

    /// 502: a frame whose content could not be parsed (truncated or malformed fields).
    public static func syntaxError(_ text: String, classID: UInt16 = 0, methodID: UInt16 = 0) -> AMQPProtocolError {
        AMQPProtocolError(replyCode: ReplyCode.syntaxError, text: text, classID: classID, methodID: methodID)
    }

    /// 503: a well-formed frame that is not allowed here.
    public static func commandInvalid(_ text: String, classID: UInt16 = 0, methodID: UInt16 = 0) -> AMQPProtocolError {
        AMQPProtocolError(replyCode: ReplyCode.commandInvalid, text: text, classID: classID, methodID: methodID)
    }

    /// 540: a class or method this library does not know.
    public static func notImplemented(_ text: String, classID: UInt16 = 0, methodID: UInt16 = 0) -> AMQPProtocolError {
        AMQPProtocolError(replyCode: ReplyCode.notImplemented, text: text, classID: classID, methodID: methodID)
    }

    /// The text in the form brokers send as reply-text: "SYNTAX_ERROR - text".
    public var replyText: String { "\(ReplyCode.name(replyCode)) - \(text)" }

    public var description: String {
        classID == 0 && methodID == 0 ? replyText : "\(replyText) (class \(classID), method \(methodID))"
    }
}
