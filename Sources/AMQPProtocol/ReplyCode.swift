/// AMQP 0-9-1 reply codes, as carried in connection.close, channel.close and basic.return.
public enum ReplyCode {
    public static let success: UInt16 = 200
    public static let contentTooLarge: UInt16 = 311
    public static let noRoute: UInt16 = 312
    public static let noConsumers: UInt16 = 313
    public static let connectionForced: UInt16 = 320
    public static let invalidPath: UInt16 = 402
    public static let accessRefused: UInt16 = 403
    public static let notFound: UInt16 = 404
    public static let resourceLocked: UInt16 = 405
    public static let preconditionFailed: UInt16 = 406
    public static let frameError: UInt16 = 501
    public static let syntaxError: UInt16 = 502
    public static let commandInvalid: UInt16 = 503
    public static let channelError: UInt16 = 504
    public static let unexpectedFrame: UInt16 = 505
    public static let resourceError: UInt16 = 506
    public static let notAllowed: UInt16 = 530
    public static let notImplemented: UInt16 = 540
    public static let internalError: UInt16 = 541

    /// The constant's name in the style brokers put in front of a reply text ("NOT_FOUND"), or
    /// "UNKNOWN" for a code the spec does not define.
    public static func name(_ code: UInt16) -> String {
        switch code {
        case success: return "REPLY_SUCCESS"
        case contentTooLarge: return "CONTENT_TOO_LARGE"
        case noRoute: return "NO_ROUTE"
        case noConsumers: return "NO_CONSUMERS"
        case connectionForced: return "CONNECTION_FORCED"
        case invalidPath: return "INVALID_PATH"
        case accessRefused: return "ACCESS_REFUSED"
        case notFound: return "NOT_FOUND"
        case resourceLocked: return "RESOURCE_LOCKED"
        case preconditionFailed: return "PRECONDITION_FAILED"
        case frameError: return "FRAME_ERROR"
        case syntaxError: return "SYNTAX_ERROR"
        case commandInvalid: return "COMMAND_INVALID"
        case channelError: return "CHANNEL_ERROR"
        case unexpectedFrame: return "UNEXPECTED_FRAME"
        case resourceError: return "RESOURCE_ERROR"
        case notAllowed: return "NOT_ALLOWED"
        case notImplemented: return "NOT_IMPLEMENTED"
        case internalError: return "INTERNAL_ERROR"
        default: return "UNKNOWN"
        }
    }

    /// True for the codes the spec classes as soft errors (close the channel only); every other
    /// error code is a hard error that closes the connection.
    public static func isSoftError(_ code: UInt16) -> Bool {
        switch code {
        case contentTooLarge, noRoute, noConsumers, accessRefused, notFound, resourceLocked, preconditionFailed:
            return true
        default:
            return false
        }
    }
}
