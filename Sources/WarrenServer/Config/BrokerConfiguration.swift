import Foundation
import WarrenControl
import WarrenCore

/// The broker's settings, read from a file in rabbitmq.conf's format. Defaults are RabbitMQ's.
public struct BrokerConfiguration: Sendable, Hashable {
    /// `listeners.tcp.NAME`; any of them replaces the default, `listeners.tcp = none` leaves none.
    public var listeners: [ListenerAddress] = [ListenerAddress(port: 5672)]
    public var defaultUser = "guest"
    public var defaultPass = "guest"
    public var defaultVhost = "/"
    public var defaultPermissions = Permission.all
    /// `default_user_tags.TAG = true`.
    public var defaultUserTags = ["administrator"]
    /// Users who may log in only from a loopback address (`loopback_users.NAME = true`).
    public var loopbackUsers: Set<String> = ["guest"]
    /// Seconds; 0 turns heartbeats off.
    public var heartbeat = 60
    public var frameMax = 131_072
    public var channelMax = 2047
    /// `max_message_size`: bodies larger than this are refused (RabbitMQ's default and ceiling).
    public var maxMessageSize = Self.defaultMaxMessageSize
    public static let defaultMaxMessageSize = 134_217_728
    public static let largestMaxMessageSize = 536_870_912
    /// Free disk space (bytes) below which publishers are blocked.
    public var diskFreeLimit: Int64 = 50_000_000
    /// Resident memory above which publishers are blocked: `vm_memory_high_watermark.relative`
    /// (a fraction of the memory available) or `.absolute` (bytes); relative wins when both are
    /// given, as in RabbitMQ.
    public var memoryHighWatermark = MemoryWatermark.default
    public var consoleLogLevel = ConsoleLogLevel.info
    /// `load_definitions`: a definitions file imported at boot.
    public var definitionsFile: String?

    public init() {}

    /// Reads a config file; a missing file is an error (pass none to use the defaults).
    public static func load(path: String) throws -> BrokerConfiguration {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return try parse(text, file: (path as NSString).lastPathComponent)
    }

    /// Parses `key = value` lines; `#` starts a comment at the start of a line or after a space.
    /// A later value for the same key replaces an earlier one.
    public static func parse(
        _ text: String, file: String = "warren.conf"
    ) throws(ConfigurationError)
        -> BrokerConfiguration
    {
        var configuration = BrokerConfiguration()
        var listeners: [(name: String, address: ListenerAddress)] = []
        var listenersNone = false
        var loopbackUsers: [String: Bool] = [:]
        var loopbackNone = false
        var userTags: [(tag: String, on: Bool)] = []
        var relativeWatermark: Double?
        var absoluteWatermark: Int64?

        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            func fail(_ message: String) -> ConfigurationError {
                ConfigurationError(file: file, line: lineNumber, message: message)
            }
            let line = stripComment(rawLine).trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw fail("syntax error: expected 'key = value', got '\(line)'")
            }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            func bad(_ expected: String) -> ConfigurationError {
                fail("invalid value '\(value)' for '\(key)': expected \(expected)")
            }
            guard !key.isEmpty else { throw fail("syntax error: missing key before '='") }
            guard !value.isEmpty else { throw fail("missing value for '\(key)'") }
            let parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)

            switch parts {
            case ["listeners", "tcp"]:
                guard value == "none" else { throw bad("'none'") }
                listenersNone = true
            case let p where p.count == 3 && p[0] == "listeners" && p[1] == "tcp" && !p[2].isEmpty:
                guard let address = ListenerAddress(parsing: value) else {
                    throw bad("a port, host:port or [ipv6]:port")
                }
                listeners.removeAll { $0.name == p[2] }
                listeners.append((name: p[2], address: address))
            case ["default_user"]: configuration.defaultUser = value
            case ["default_pass"]: configuration.defaultPass = value
            case ["default_vhost"]: configuration.defaultVhost = value
            case ["default_permissions", "configure"]: configuration.defaultPermissions.configure = value
            case ["default_permissions", "write"]: configuration.defaultPermissions.write = value
            case ["default_permissions", "read"]: configuration.defaultPermissions.read = value
            case let p where p.count == 2 && p[0] == "default_user_tags" && !p[1].isEmpty:
                guard let on = bool(value) else { throw bad("true or false") }
                userTags.removeAll { $0.tag == p[1] }
                userTags.append((tag: p[1], on: on))
            case ["loopback_users"]:
                guard value == "none" else { throw bad("'none'") }
                loopbackNone = true
            case let p where p.count == 2 && p[0] == "loopback_users" && !p[1].isEmpty:
                guard let on = bool(value) else { throw bad("true or false") }
                loopbackUsers[p[1]] = on
            case ["heartbeat"]:
                guard let seconds = Int(value), (0...65535).contains(seconds) else { throw bad("seconds, 0 to 65535") }
                configuration.heartbeat = seconds
            case ["frame_max"]:
                guard let bytes = InformationUnit.bytes(value), bytes == 0 || (4096...Int64(UInt32.max)).contains(bytes)
                else { throw bad("bytes, 0 or at least 4096") }
                configuration.frameMax = Int(bytes)
            case ["max_message_size"]:
                guard let bytes = InformationUnit.bytes(value), (1...Int64(Self.largestMaxMessageSize)).contains(bytes)
                else { throw bad("bytes, 1 to 536870912 (512 MiB)") }
                configuration.maxMessageSize = Int(bytes)
            case ["channel_max"]:
                guard let count = Int(value), (0...65535).contains(count) else { throw bad("a count, 0 to 65535") }
                configuration.channelMax = count
            case ["disk_free_limit", "absolute"]:
                guard let bytes = InformationUnit.bytes(value) else {
                    throw bad("bytes, such as 50000000, 50MB or 1GB")
                }
                configuration.diskFreeLimit = bytes
            case ["vm_memory_high_watermark", "relative"]:
                guard let fraction = Double(value), fraction.isFinite, (0...1).contains(fraction) else {
                    throw bad("a fraction of RAM from 0 to 1")
                }
                relativeWatermark = fraction
            case ["vm_memory_high_watermark", "absolute"]:
                guard let bytes = InformationUnit.bytes(value) else {
                    throw bad("bytes, such as 2000000000, 2GB or 1536MiB")
                }
                absoluteWatermark = bytes
            case ["log", "console", "level"]:
                guard let level = ConsoleLogLevel(rawValue: value) else {
                    throw bad(ConsoleLogLevel.allCases.map(\.rawValue).joined(separator: ", "))
                }
                configuration.consoleLogLevel = level
            case ["load_definitions"]:
                configuration.definitionsFile = value
            default:
                throw fail("unknown key '\(key)'")
            }
        }

        if listenersNone {
            configuration.listeners = []
        } else if !listeners.isEmpty {
            configuration.listeners = listeners.map(\.address)
        }
        if loopbackNone {
            configuration.loopbackUsers = []
        } else if !loopbackUsers.isEmpty {
            configuration.loopbackUsers = Set(loopbackUsers.filter(\.value).keys)
        }
        if let relativeWatermark {
            configuration.memoryHighWatermark = .relative(relativeWatermark)
        } else if let absoluteWatermark {
            configuration.memoryHighWatermark = .absolute(UInt64(absoluteWatermark))
        }
        if !userTags.isEmpty {
            configuration.defaultUserTags = userTags.filter(\.on).map(\.tag)
        }
        return configuration
    }

    private static func stripComment(_ line: Substring) -> Substring {
        var previous: Character = " "
        for index in line.indices {
            if line[index] == "#" && previous.isWhitespace { return line[..<index] }
            previous = line[index]
        }
        return line
    }

    private static func bool(_ text: String) -> Bool? {
        switch text {
        case "true": true
        case "false": false
        default: nil
        }
    }
}

extension BrokerConfiguration {
    /// The user database for a first start: the default vhost, and the default user with the
    /// default permissions and tags.
    public var seededUserDatabase: UserDatabase {
        .seeded(
            user: defaultUser, password: defaultPass, vhost: defaultVhost, permission: defaultPermissions,
            tags: defaultUserTags)
    }
}
