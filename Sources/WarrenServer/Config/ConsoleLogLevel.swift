import Logging

/// `log.console.level`: RabbitMQ's level names, mapped onto swift-log's levels; `none` turns
/// console logging off.
public enum ConsoleLogLevel: String, Sendable, Hashable, CaseIterable {
    case debug, info, notice, warning, error, critical, alert, emergency, none

    /// The swift-log level to filter at; nil for `none`.
    public var loggerLevel: Logger.Level? {
        switch self {
        case .debug: .debug
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        case .critical, .alert, .emergency: .critical
        case .none: nil
        }
    }
}
