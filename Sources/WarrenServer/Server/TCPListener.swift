import Foundation
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// The listening socket, accepted on a thread of its own so that the broker chooses each new
/// connection's event loop (`LoopPlacement`) instead of NIO's round-robin.
final class TCPListener: Sendable {
    enum ListenError: Error, CustomStringConvertible {
        case system(String, CInt)
        var description: String {
            switch self {
            case .system(let call, let code): "\(call): \(String(cString: strerror(code)))"
            }
        }
    }

    /// The bound address (with the port the kernel chose when asked for port 0).
    let address: SocketAddress
    private let descriptor: CInt
    private let closing = NIOLockedValueBox(false)

    init(host: String, port: Int, backlog: CInt = 1024) throws {
        let requested = try SocketAddress.makeAddressResolvingHost(host, port: port)
        let fd = socket(requested.protocol.rawValue, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ListenError.system("socket", errno) }
        var one: CInt = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
        let bound = requested.withSockAddr { Glibc.bind(fd, $0, socklen_t($1)) }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw ListenError.system(bound == 0 ? "listen" : "bind", code)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let port =
            withUnsafeMutablePointer(to: &storage) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            } == 0 ? Self.port(of: storage) : port
        self.descriptor = fd
        self.address = (try? SocketAddress(ipAddress: requested.ipAddress ?? host, port: port)) ?? requested
    }

    private static func port(of storage: sockaddr_storage) -> Int {
        var storage = storage
        let family = CInt(storage.ss_family)
        return withUnsafePointer(to: &storage) { pointer in
            switch family {
            case AF_INET6:
                pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    Int(UInt16(bigEndian: $0.pointee.sin6_port))
                }
            default:
                pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    Int(UInt16(bigEndian: $0.pointee.sin_port))
                }
            }
        }
    }

    /// Accepts until `close`, handing each connected socket to `accepted`, which owns it.
    func run(_ accepted: @escaping @Sendable (CInt) -> Void) {
        let fd = descriptor
        let closing = self.closing
        let thread = Thread {
            while true {
                let connection = accept(fd, nil, nil)
                if connection >= 0 {
                    _ = fcntl(connection, F_SETFD, FD_CLOEXEC)
                    accepted(connection)
                    continue
                }
                let code = errno
                if closing.withLockedValue({ $0 }) { break }
                switch code {
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                case EMFILE, ENFILE, ENOBUFS, ENOMEM:
                    // Out of descriptors or memory: wait instead of spinning.
                    usleep(10_000)
                default:
                    usleep(1_000)
                }
            }
            Glibc.close(fd)
        }
        thread.name = "warren-accept"
        thread.start()
    }

    /// Stops accepting; the accept thread closes the socket as it leaves.
    func close() {
        let first = closing.withLockedValue { value in
            defer { value = true }
            return !value
        }
        // Wakes the thread blocked in accept (it returns EINVAL).
        if first { shutdown(descriptor, CInt(SHUT_RDWR)) }
    }
}
