import Foundation
import NIOCore
import NIOPosix

/// warrenctl's end of the control socket: connects, sends one request, reads one response.
public struct ControlClient: Sendable {
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// Nothing answers at the socket path: the broker is not running, or uses another data dir.
        case brokerNotRunning(socketPath: String, reason: String)
        /// The broker closed the connection or answered something that is not a response.
        case badResponse(String)
        case timedOut(socketPath: String, seconds: Double)

        public var description: String {
            switch self {
            case .brokerNotRunning(let path, let reason):
                "unable to connect to the broker's control socket \(path): \(reason). Is Warren running with this --data-dir?"
            case .badResponse(let detail):
                "the broker's answer could not be read: \(detail)"
            case .timedOut(let path, let seconds):
                "no answer from the broker at \(path) within \(seconds) seconds"
            }
        }
    }

    public let socketPath: String

    public init(socketPath: String) {
        self.socketPath = socketPath
    }

    /// The socket of a broker started with `--data-dir dataDirectory`.
    public init(dataDirectory: String) {
        self.init(socketPath: (dataDirectory as NSString).appendingPathComponent("warren.sock"))
    }

    public func send(
        _ request: ControlRequest, timeout: TimeAmount = .seconds(60)
    ) async throws(Failure)
        -> ControlResponse
    {
        let path = socketPath
        let connection: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            connection = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.seconds(5))
                .connect(unixDomainSocketPath: path) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(NewlineFramer()))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw .brokerNotRunning(socketPath: path, reason: Self.reason(error, path: path))
        }
        do {
            return try await withThrowingTaskGroup(of: ControlResponse?.self) { group in
                group.addTask {
                    try await connection.executeThenClose { inbound, outbound in
                        var buffer = ByteBuffer(bytes: try JSONEncoder().encode(request))
                        buffer.writeInteger(UInt8(ascii: "\n"))
                        try await outbound.write(buffer)
                        for try await line in inbound {
                            return try JSONDecoder().decode(ControlResponse.self, from: Data(line.readableBytesView))
                        }
                        throw Failure.badResponse("the connection closed before an answer came")
                    }
                }
                group.addTask {
                    try await Task.sleep(nanoseconds: UInt64(max(timeout.nanoseconds, 0)))
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let response = first else {
                    connection.channel.close(promise: nil)
                    throw Failure.timedOut(socketPath: path, seconds: Double(timeout.nanoseconds) / 1e9)
                }
                return response
            }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .badResponse("\(error)")
        }
    }

    private static func reason(_ error: any Error, path: String) -> String {
        if path.utf8.count > ControlServer.maximumPathLength {
            return
                "the path is \(path.utf8.count) bytes, longer than a Unix socket allows (\(ControlServer.maximumPathLength))"
        }
        if let io = error as? IOError {
            switch io.errnoCode {
            case ENOENT: return "no such socket"
            case ECONNREFUSED: return "connection refused (a stale socket: the broker is not running)"
            case EACCES: return "permission denied (the socket belongs to the broker's user)"
            default: return String(cString: strerror(io.errnoCode))
            }
        }
        return "\(error)"
    }
}
