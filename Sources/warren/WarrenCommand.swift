import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import WarrenServer

@main
struct WarrenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warren", abstract: "An AMQP 0-9-1 message broker.", version: WarrenVersion.string)

    @Option(help: "Address to listen on.")
    var bind: String = "127.0.0.1"

    @Option(help: "TCP port to listen on.")
    var port: Int = 5672

    @Option(help: "Directory for the broker's data (created if missing).")
    var dataDir: String = "./warren-data"

    @Option(help: "Block publishers when the data directory's disk has fewer free bytes than this.")
    var diskFreeLimit: UInt64 = 50_000_000

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("unknown log level '\(logLevel)'")
        }
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
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

        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let runtime: BrokerRuntime
        do {
            runtime = try BrokerRuntime(group: group, dataDirectory: lock.path, logger: logger)
        } catch {
            logger.critical("cannot open the data in \(lock.path): \(error)")
            Foundation.exit(1)
        }
        let server = AMQPServer(group: group, runtime: runtime)
        do {
            let address = try await server.start(host: bind, port: port)
            server.monitorDisk(path: lock.path, limit: diskFreeLimit, logger: logger)
            logger.info(
                "Warren \(WarrenVersion.string) listening on \(address.map { "\($0)" } ?? "\(bind):\(port)")",
                metadata: ["data-dir": "\(lock.path)"])
        } catch {
            logger.critical("cannot listen on \(bind):\(port): \(error)")
            Foundation.exit(1)
        }

        let signal = await ShutdownSignal.wait()
        logger.info("received \(signal), closing connections")
        await server.shutdown()
        await runtime.shutdown()
        try? await group.shutdownGracefully()
        withExtendedLifetime(lock) {}
        logger.info("stopped")
    }
}
