import Foundation
import Testing
import WarrenCore

@testable import WarrenServer

@Suite struct BrokerConfigurationTests {
    @Test func defaultsAreRabbitMQs() {
        let configuration = BrokerConfiguration()
        #expect(configuration.listeners == [ListenerAddress(port: 5672)])
        #expect(configuration.defaultUser == "guest" && configuration.defaultPass == "guest")
        #expect(configuration.defaultVhost == "/")
        #expect(configuration.defaultPermissions == Permission(configure: ".*", write: ".*", read: ".*"))
        #expect(configuration.loopbackUsers == ["guest"])
        #expect(configuration.heartbeat == 60)
        #expect(configuration.frameMax == 131_072)
        #expect(configuration.channelMax == 2047)
        #expect(configuration.maxMessageSize == 134_217_728)
        #expect(configuration.diskFreeLimit == 50_000_000)
        #expect(configuration.memoryHighWatermark == 0.4)
        #expect(configuration.consoleLogLevel == .info)
        #expect(configuration.definitionsFile == nil)
    }

    @Test func emptyFileGivesTheDefaults() throws {
        #expect(try BrokerConfiguration.parse("\n# nothing here\n   \n") == BrokerConfiguration())
    }

    @Test func readsEveryKey() throws {
        let text = """
            # Warren configuration
            listeners.tcp.default = 127.0.0.1:5673
            listeners.tcp.v6 = [::1]:5674
            default_user = admin
            default_pass = s3cret#not-a-comment
            default_vhost = main
            default_permissions.configure = ^admin\\.
            default_permissions.write = .*
            default_permissions.read = .*   # trailing comment
            default_user_tags.administrator = false
            default_user_tags.monitoring = true
            loopback_users.guest = false
            loopback_users.admin = true
            heartbeat = 30
            frame_max = 8192
            channel_max = 100
            max_message_size = 64MiB
            disk_free_limit.absolute = 1GB
            vm_memory_high_watermark.relative = 0.6
            log.console.level = warning
            load_definitions = /etc/warren/definitions.json
            """
        let configuration = try BrokerConfiguration.parse(text)
        #expect(
            configuration.listeners == [
                ListenerAddress(host: "127.0.0.1", port: 5673), ListenerAddress(host: "::1", port: 5674),
            ])
        #expect(configuration.defaultUser == "admin")
        #expect(configuration.defaultPass == "s3cret#not-a-comment")
        #expect(configuration.defaultVhost == "main")
        #expect(configuration.defaultPermissions == Permission(configure: "^admin\\.", write: ".*", read: ".*"))
        #expect(configuration.defaultUserTags == ["monitoring"])
        #expect(configuration.loopbackUsers == ["admin"])
        #expect(configuration.heartbeat == 30)
        #expect(configuration.frameMax == 8192)
        #expect(configuration.channelMax == 100)
        #expect(configuration.maxMessageSize == 67_108_864)
        #expect(configuration.diskFreeLimit == 1_000_000_000)
        #expect(configuration.memoryHighWatermark == 0.6)
        #expect(configuration.consoleLogLevel == .warning)
        #expect(configuration.consoleLogLevel.loggerLevel == .warning)
        #expect(configuration.definitionsFile == "/etc/warren/definitions.json")
    }

    @Test(arguments: [
        ("50000000", Int64(50_000_000)), ("50MB", 50_000_000), ("50mb", 50_000_000), ("50000kB", 50_000_000),
        ("2GB", 2_000_000_000), ("1k", 1024), ("1KiB", 1024), ("64M", 67_108_864), ("64MiB", 67_108_864),
        ("1G", 1_073_741_824), ("1GiB", 1_073_741_824),
    ])
    func diskFreeLimitReadsRabbitMQsUnits(text: String, bytes: Int64) throws {
        let configuration = try BrokerConfiguration.parse("disk_free_limit.absolute = \(text)")
        #expect(configuration.diskFreeLimit == bytes)
    }

    @Test(arguments: ["50 MB", "50TB", "MB", "-5", "1.5GB", "50Mib"])
    func diskFreeLimitRefusesOtherForms(text: String) {
        #expect(throws: ConfigurationError.self) { try BrokerConfiguration.parse("disk_free_limit.absolute = \(text)") }
    }

    @Test func listenerForms() {
        #expect(ListenerAddress(parsing: "5672") == ListenerAddress(port: 5672))
        #expect(ListenerAddress(parsing: "0.0.0.0:5672") == ListenerAddress(host: "0.0.0.0", port: 5672))
        #expect(ListenerAddress(parsing: "[::]:5672") == ListenerAddress(host: "::", port: 5672))
        #expect(ListenerAddress(parsing: "::1:5672") == ListenerAddress(host: "::1", port: 5672))
        #expect(ListenerAddress(parsing: "localhost:15672")?.host == "localhost")
        #expect(ListenerAddress(parsing: "70000") == nil)
        #expect(ListenerAddress(parsing: "host:") == nil)
        #expect(ListenerAddress(parsing: ":5672") == nil)
        #expect(ListenerAddress(parsing: "[::1:5672") == nil)
        #expect(ListenerAddress(host: "::1", port: 5672).description == "[::1]:5672")
    }

    @Test func namedListenersReplaceTheDefaultAndNoneRemovesAll() throws {
        let one = try BrokerConfiguration.parse("listeners.tcp.other = 5680")
        #expect(one.listeners == [ListenerAddress(port: 5680)])
        let same = try BrokerConfiguration.parse("listeners.tcp.default = 1\nlisteners.tcp.default = 2")
        #expect(same.listeners == [ListenerAddress(port: 2)])
        let none = try BrokerConfiguration.parse("listeners.tcp = none\nlisteners.tcp.default = 5672")
        #expect(none.listeners.isEmpty)
    }

    @Test func loopbackUsersNoneAllowsEveryoneEverywhere() throws {
        #expect(try BrokerConfiguration.parse("loopback_users = none").loopbackUsers.isEmpty)
        #expect(try BrokerConfiguration.parse("loopback_users.guest = false").loopbackUsers.isEmpty)
    }

    @Test func memoryWatermarkIsRelativeOrAbsolute() throws {
        #expect(try BrokerConfiguration.parse("vm_memory_high_watermark.relative = 0.7").memoryHighWatermark == 0.7)
        #expect(
            try BrokerConfiguration.parse("vm_memory_high_watermark.absolute = 1GB").memoryHighWatermark
                == .absolute(1_000_000_000))
        #expect(
            try BrokerConfiguration.parse("vm_memory_high_watermark.absolute = 512MiB").memoryHighWatermark
                == .absolute(512 << 20))
        #expect(
            try BrokerConfiguration.parse("vm_memory_high_watermark.absolute = 2000000000").memoryHighWatermark
                == .absolute(2_000_000_000))
        // As in RabbitMQ, the absolute watermark is ignored when a relative one is given.
        let both = "vm_memory_high_watermark.absolute = 1GB\nvm_memory_high_watermark.relative = 0.5\n"
        #expect(try BrokerConfiguration.parse(both).memoryHighWatermark == .relative(0.5))
    }

    @Test func badAbsoluteWatermarkNamesTheLine() {
        let text = "heartbeat = 10\nvm_memory_high_watermark.absolute = 1.5GB\n"
        #expect(
            throws: ConfigurationError(
                file: "warren.conf", line: 2,
                message:
                    "invalid value '1.5GB' for 'vm_memory_high_watermark.absolute': expected bytes, such as 2000000000, 2GB or 1536MiB"
            )
        ) {
            try BrokerConfiguration.parse(text)
        }
    }

    @Test func unknownKeysNameTheLine() {
        let text = "heartbeat = 10\n\n# comment\nfoo.bar = 1\n"
        #expect(throws: ConfigurationError(file: "warren.conf", line: 4, message: "unknown key 'foo.bar'")) {
            try BrokerConfiguration.parse(text)
        }
        #expect(
            ConfigurationError(file: "warren.conf", line: 7, message: "unknown key 'foo.bar'").description
                == "warren.conf:7: unknown key 'foo.bar'")
    }

    @Test(arguments: [
        "heartbeat = soon", "heartbeat = -1", "frame_max = 100", "channel_max = 70000",
        "vm_memory_high_watermark.relative = 1.5", "vm_memory_high_watermark.relative = x",
        "vm_memory_high_watermark.absolute = lots", "vm_memory_high_watermark.absolute = 1TB",
        "log.console.level = loud", "loopback_users = all", "loopback_users.guest = yes",
        "listeners.tcp.default = nowhere", "listeners.tcp = all", "default_user =", "just some words",
        "= 5", "max_message_size = 0", "max_message_size = 1GB", "max_message_size = big",
    ])
    func badLinesAreErrorsNamingTheKey(line: String) throws {
        do {
            _ = try BrokerConfiguration.parse("# first\n" + line, file: "test.conf")
            Issue.record("expected an error for \(line)")
        } catch {
            #expect(error.line == 2)
            #expect(error.description.hasPrefix("test.conf:2: "))
            let key =
                line.split(separator: "=", omittingEmptySubsequences: false).first.map {
                    $0.trimmingCharacters(in: .whitespaces)
                } ?? ""
            if !key.isEmpty && line.contains("=") { #expect(error.message.contains("'\(key)'")) }
        }
    }

    @Test func maxMessageSizeGoesUpToRabbitMQsCeiling() throws {
        #expect(try BrokerConfiguration.parse("max_message_size = 512MiB").maxMessageSize == 536_870_912)
        #expect(try BrokerConfiguration.parse("max_message_size = 1").maxMessageSize == 1)
        #expect(throws: ConfigurationError.self) { try BrokerConfiguration.parse("max_message_size = 536870913") }
    }

    @Test func frameMaxTakesUnitsAndZero() throws {
        #expect(try BrokerConfiguration.parse("frame_max = 128k").frameMax == 131_072)
        #expect(try BrokerConfiguration.parse("frame_max = 0").frameMax == 0)
    }

    @Test func loadsFromAFile() throws {
        let path = "/tmp/warren-config-test-\(getpid()).conf"
        try "heartbeat = 5\nbogus = 1\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        #expect(
            throws: ConfigurationError(
                file: "warren-config-test-\(getpid()).conf", line: 2, message: "unknown key 'bogus'")
        ) {
            try BrokerConfiguration.load(path: path)
        }
    }
}

@Suite struct SeededUserDatabaseTests {
    @Test func firstStartCreatesTheConfiguredUserAndVhost() throws {
        let configuration = try BrokerConfiguration.parse(
            "default_user = admin\ndefault_pass = pw\ndefault_vhost = main\ndefault_permissions.configure = ^x")
        let database = configuration.seededUserDatabase
        #expect(database.vhostNames == ["main"])
        #expect(database.authenticate("admin", password: "pw")?.tags == ["administrator"])
        #expect(
            database.permission(user: "admin", vhost: "main") == Permission(configure: "^x", write: ".*", read: ".*"))
    }
}
