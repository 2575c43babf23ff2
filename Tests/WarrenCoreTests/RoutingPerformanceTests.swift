import AMQPProtocol
import Foundation
import NIOCore
import Testing

@testable import WarrenCore

/// Routing cost must follow the size of the result (and the key), not its square or an
/// exponential in the pattern. The bounds are 20-50 times what a linear implementation needs
/// in a debug build, so they do not flake on a busy machine.
@Suite struct RoutingPerformanceTests {
    static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = Date()
        try body()
        return Date().timeIntervalSince(start)
    }

    @Test func fanoutToFiveThousandQueuesRoutesInLinearTime() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("f", .fanout)
        for i in 0..<5000 {
            try vhost.makeQueue("q\(i)")
            try vhost.bindQueue("q\(i)", to: "f")
        }
        var count = 0
        let elapsed = try Self.seconds { count = try routedQueues(vhost, exchange: "f").count }
        #expect(count == 5000)
        #expect(elapsed < 0.2, "one publish to 5,000 queues took \(elapsed) s")
    }

    @Test func repeatedHashWordsDoNotMakeTopicMatchingExplode() throws {
        let vhost = makeVHost()
        try vhost.makeExchange("t", .topic)
        try vhost.makeQueue("q")
        try vhost.bindQueue("q", to: "t", key: "#.#.#.#.#.#")
        let key = (0..<24).map { "w\($0)" }.joined(separator: ".")
        var routed: [String] = []
        let elapsed = try Self.seconds { routed = try routedQueues(vhost, exchange: "t", routingKey: key) }
        #expect(routed == ["q"])
        #expect(elapsed < 0.05, "one publish took \(elapsed) s")
    }
}
