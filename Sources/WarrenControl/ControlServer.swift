import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The broker's end of the control socket: a Unix domain socket at `<data-dir>/warren.sock`,
/// usable only by the broker's own OS user (mode 0600). Each connection sends requests, one JSON
/// line each, and gets one JSON line back per request, from the handler.
///
///     let control = ControlServer(socketPath: dataDir + "/warren.sock", handler: handler, logger: logger)
///     try await control.start()
///     Task { await control.run() }     // serves until shutdown()
///     ...
///     await control.shutdown()          // closes the socket and removes its file
public final class ControlServer: Sendable {
    public struct StartError: Error, CustomStringConvertible {
        public var description: String
    }

    public let socketPath: String
    private let handler: any ControlCommandHandler
    private let group: any EventLoopGroup
    private let logger: Logger
    private let channel = NIOLockedValueBox<NIOAsyncChannel<NIOAsyncChannel<ByteBuffer, ByteBuffer>, Never>?>(nil)

    /// The longest path a Unix socket address holds (`sun_path` less its terminating NUL).
    public static let maximumPathLength = 107

    public init(
        socketPath: String, handler: any ControlCommandHandler,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        self.socketPath = socketPath
        self.handler = handler
        self.group = group
        self.logger = logger
    }

    /// Creates the socket, replacing a stale socket file left by a broker that died. Refuses to
    /// replace anything that is not a socket.
    public func start() async throws {
        guard socketPath.utf8.count <= Self.maximumPathLength else {
            throw StartError(
                description:
                    "control socket path \(socketPath) is \(socketPath.utf8.count) bytes; Unix sockets allow \(Self.maximumPathLength): use a shorter --data-dir"
            )
        }
        try removeStaleSocket()
        // Bind inside a fresh directory only we can enter, tighten the socket's mode, then move it
        // into place: at no moment can another user connect.
        let directory = (socketPath as NSString).deletingLastPathComponent
        let privateDirectory = (directory.isEmpty ? "." : directory) + "/.warren-ctl-\(getpid())"
        rmdirIfPresent(privateDirectory)
        guard mkdir(privateDirectory, 0o700) == 0 else {
            throw StartError(description: "cannot create \(privateDirectory): \(String(cString: strerror(errno)))")
        }
        defer { rmdir(privateDirectory) }
        let privatePath = privateDirectory + "/s"
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(unixDomainSocketPath: privatePath) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(NewlineFramer()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: child)
                }
            }
        guard chmod(privatePath, 0o600) == 0, rename(privatePath, socketPath) == 0 else {
            let reason = String(cString: strerror(errno))
            try? await server.channel.close()
            unlink(privatePath)
            throw StartError(description: "cannot create control socket \(socketPath): \(reason)")
        }
        channel.withLockedValue { $0 = server }
    }

    /// Serves connections until `shutdown()`; each connection runs in its own task.
    public func run() async {
        guard let server = channel.withLockedValue({ $0 }) else { return }
        do {
            try await server.executeThenClose { connections in
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in connections {
                        group.addTask { await self.serve(connection) }
                    }
                }
            }
        } catch {
            logger.debug("control socket closed: \(error)")
        }
    }

    /// Stops accepting connections and removes the socket file.
    public func shutdown() async {
        let server = channel.withLockedValue { current in
            defer { current = nil }
            return current
        }
        try? await server?.channel.close()
        if server != nil { unlink(socketPath) }
    }

    private func serve(_ connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>) async {
        do {
            try await connection.executeThenClose { lines, outbound in
                for try await line in lines {
                    let response = await respond(to: line)
                    var buffer = ByteBuffer(bytes: try JSONEncoder().encode(response))
                    buffer.writeInteger(UInt8(ascii: "\n"))
                    try await outbound.write(buffer)
                }
            }
        } catch {
            logger.debug("control connection ended: \(error)")
        }
    }

    private func respond(to line: ByteBuffer) async -> ControlResponse {
        let request: ControlRequest
        do {
            request = try JSONDecoder().decode(ControlRequest.self, from: Data(line.readableBytesView))
        } catch {
            return .failure("malformed control request: \(error)", .usage)
        }
        logger.debug("control command", metadata: ["command": "\(request.command)"])
        return await handler.handle(request)
    }

    private func removeStaleSocket() throws {
        var status = stat()
        guard lstat(socketPath, &status) == 0 else { return }
        guard (status.st_mode & S_IFMT) == S_IFSOCK else {
            throw StartError(description: "\(socketPath) exists and is not a socket; not replacing it")
        }
        unlink(socketPath)
    }

    private func rmdirIfPresent(_ path: String) {
        unlink(path + "/s")
        rmdir(path)
    }
}
