import Foundation
import NIOConcurrencyHelpers
import Testing

@testable import WarrenServer

#if canImport(Glibc)
    import Glibc
#endif

/// The listening socket Warren accepts on itself (so that it places each connection).
@Suite struct TCPListenerTests {
    private func connect(port: Int) -> CInt {
        let fd = socket(AF_INET, CInt(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result == 0 ? fd : -1
    }

    @Test func portZeroGetsAPortAndAcceptedSocketsAreHandedOver() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let port = try #require(listener.address.port)
        #expect(port > 0)
        let accepted = NIOLockedValueBox<[CInt]>([])
        listener.run { fd in accepted.withLockedValue { $0.append(fd) } }
        defer { listener.close() }

        let client = connect(port: port)
        #expect(client >= 0)
        defer { close(client) }
        var waited = 0
        while accepted.withLockedValue({ $0.isEmpty }) && waited < 200 {
            usleep(10_000)
            waited += 1
        }
        let server = try #require(accepted.withLockedValue { $0.first })
        defer { close(server) }
        // The handed-over descriptor is the connection: bytes written by the client arrive.
        #expect(write(client, "ping", 4) == 4)
        var buffer = [UInt8](repeating: 0, count: 4)
        #expect(read(server, &buffer, 4) == 4)
        #expect(String(decoding: buffer, as: UTF8.self) == "ping")
    }

    @Test func aPortInUseIsAnError() throws {
        let first = try TCPListener(host: "127.0.0.1", port: 0)
        defer { first.close() }
        first.run { close($0) }
        #expect(throws: TCPListener.ListenError.self) {
            _ = try TCPListener(host: "127.0.0.1", port: first.address.port!)
        }
    }

    @Test func closingStopsAccepting() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0)
        let port = try #require(listener.address.port)
        listener.run { close($0) }
        listener.close()
        var refused = false
        for _ in 0..<100 {
            let fd = connect(port: port)
            if fd < 0 {
                refused = true
                break
            }
            close(fd)
            usleep(10_000)
        }
        #expect(refused)
    }
}
