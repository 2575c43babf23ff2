import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import WarrenControl
import WarrenCore
import WarrenServer

@main
struct WarrenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warren", abstract: "An AMQP 0-9-1 message broker.", version: WarrenVersion.string)

    @Option(help: "A configuration file in rabbitmq.conf's format; flags override it.")
    var config: String?

    @Option(help: "Address to listen on (default 127.0.0.1).")
    var bind: String?

    @Option(help: "TCP port to listen on (default 5672).")
    var port: Int?

    @Option(help: "Directory for the broker's data (created if missing).")
    var dataDir: String = "./warren-data"

    @Option(help: "Block publishers when the data directory's disk has fewer free bytes than this (default 50000000).")
    var diskFreeLimit: UInt64?

    @Option(
        help: ArgumentHelp(
            "Block publishers when the broker's resident memory exceeds this: a fraction of the memory available (default 0.4) or bytes (1GB, 512MiB).",
            valueName: "fraction-or-bytes"))
    var vmMemoryHighWatermark: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (default info).")
    var logLevel: String?

    @Option(help: "Event-loop threads for connections and vhosts (default: one per core).")
    var eventLoops: Int?

    @Option(
        help: ArgumentHelp(
            "After a read, an event loop polls for more work for up to this long before it sleeps (default \(IdlePolling.defaultMicroseconds); 0 never).",
            valueName: "microseconds"))
    var idlePoll: Int?

    func run() async throws {
        let shutdown = ShutdownSignal.install()
        var settings = BrokerConfiguration()
        if let config {
            do {
                settings = try BrokerConfiguration.load(path: config)
            } catch {
                FileHandle.standardError.write(Data("warren: \(error)\n".utf8))
                Foundation.exit(1)
            }
        }
        if let idlePoll, idlePoll < 0 {
            throw ValidationError("invalid --idle-poll '\(idlePoll)': expected microseconds, 0 or more")
        }
        if let vmMemoryHighWatermark {
            guard let watermark = MemoryWatermark(parsing: vmMemoryHighWatermark) else {
                throw ValidationError(
                    "invalid --vm-memory-high-watermark '\(vmMemoryHighWatermark)': expected a fraction from 0 to 1 or bytes such as 1GB"
                )
            }
            settings.memoryHighWatermark = watermark
        }
        let level: Logger.Level?
        if let logLevel {
            guard let parsed = Logger.Level(rawValue: logLevel) else {
                throw ValidationError("unknown log level '\(logLevel)'")
            }
            level = parsed
        } else {
            level = settings.consoleLogLevel.loggerLevel
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level ?? .critical
            return handler
        }
        let logger = Logger(label: "warren")

        let lock: DataDirectoryLock
        do {
            lock = try DataDirectoryLock(path: dataDir)
        } catch {
            logger.critical("\(error)")
            Foundation.exit(1)
        }

        let threads = max(1, eventLoops ?? System.coreCount)
        let idlePollMicroseconds = idlePoll ?? IdlePolling.defaultMicroseconds
        let idlePolling = idlePollMicroseconds > 0 ? IdlePolling(microseconds: idlePollMicroseconds) : nil
        let group =
            idlePolling.map { MultiThreadedEventLoopGroup(numberOfThreads: threads, metricsDelegate: $0) }
            ?? MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let runtime: BrokerRuntime
        do {
            let users = try UserDirectory(
                dataDirectory: lock.path, seed: settings.seededUserDatabase, loopbackUsers: settings.loopbackUsers)
            runtime = try BrokerRuntime(
                group: group, dataDirectory: lock.path, users: users, channelMax: UInt16(settings.channelMax),
                frameMax: UInt32(settings.frameMax), heartbeat: UInt16(settings.heartbeat),
                maxMessageSize: UInt64(settings.maxMessageSize), logger: logger)
        } catch {
            logger.critical("cannot open the data in \(lock.path): \(error)")
            Foundation.exit(1)
        }
        let control = BrokerControlHandler(runtime: runtime)
        if let file = settings.definitionsFile {
            do {
                try await control.apply(try Definitions(json: Data(contentsOf: URL(fileURLWithPath: file))))
                logger.info("loaded definitions from \(file)")
            } catch {
                logger.critical("cannot load definitions from \(file): \(error)")
                Foundation.exit(1)
            }
        }

        let server = AMQPServer(group: group, runtime: runtime, idlePolling: idlePolling)
        let listener = settings.listeners.first ?? ListenerAddress(port: 5672)
        // Without a configuration file, only this machine can connect unless --bind says otherwise.
        let host = bind ?? (config == nil ? "127.0.0.1" : listener.host ?? "0.0.0.0")
        let listenPort = port ?? listener.port
        do {
            let address = try await server.start(host: host, port: listenPort)
            server.monitorResources(
                diskPath: lock.path, diskFreeLimit: .absolute(diskFreeLimit ?? UInt64(max(settings.diskFreeLimit, 0))),
                memoryWatermark: settings.memoryHighWatermark)
            logger.info(
                "Warren \(WarrenVersion.string) listening on \(address.map { "\($0)" } ?? "\(host):\(listenPort)")",
                metadata: ["data-dir": "\(lock.path)"])
        } catch {
            logger.critical("cannot listen on \(host):\(listenPort): \(error)")
            Foundation.exit(1)
        }

        let controlServer = ControlServer(socketPath: lock.path + "/warren.sock", handler: control, logger: logger)
        do {
            try await controlServer.start()
        } catch {
            logger.critical("cannot open the control socket: \(error)")
            Foundation.exit(1)
        }
        let controlTask = Task { await controlServer.run() }

        let signal = await shutdown.wait()
        logger.info("received \(signal), closing connections")
        await controlServer.shutdown()
        controlTask.cancel()
        await server.shutdown()
        await runtime.shutdown()
        idlePolling?.stop()
        try? await group.shutdownGracefully()
        withExtendedLifetime(lock) {}
        logger.info("stopped")
    }
}
