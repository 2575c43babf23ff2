import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing

@testable import WarrenServer

#if canImport(Glibc)
    import Glibc
#endif

/// An event loop that has just read polls for more work before it sleeps, and whatever it would
/// have woken for ends the polling at once.
@Suite struct IdlePollingTests {
    /// Records when its channel last read.
    final class ReadClock: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let lastRead = NIOLockedValueBox<ContinuousClock.Instant?>(nil)
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            lastRead.withLockedValue { $0 = .now }
        }
    }

    /// A loop with an `IdlePolling` of the given window as its metrics delegate, and a connected
    /// socket pair whose first end is a channel on that loop.
    struct Harness {
        let polling: IdlePolling
        let group: MultiThreadedEventLoopGroup
        let channel: any Channel
        let loopSocket: CInt
        let peerSocket: CInt
        let reads = ReadClock()

        init(microseconds: Int) async throws {
            let polling = IdlePolling(microseconds: microseconds)
            self.polling = polling
            group = MultiThreadedEventLoopGroup(numberOfThreads: 1, metricsDelegate: polling)
            var sockets: [CInt] = [-1, -1]
            #expect(socketpair(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0, &sockets) == 0)
            loopSocket = sockets[0]
            peerSocket = sockets[1]
            let reads = self.reads
            channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(reads) }
                }
                .withConnectedSocket(loopSocket).get()
        }

        func shutDown() async throws {
            polling.stop()
            try await channel.close()
            close(peerSocket)
            try await group.shutdownGracefully()
        }

        /// As a connection does after each read on the loop.
        func noteRead() async throws {
            let socket = loopSocket
            let polling = self.polling
            try await channel.eventLoop.submit { polling.noteRead(socket: socket) }.get()
        }

        func secondsPolled() async throws -> Double {
            let polling = self.polling
            return try await channel.eventLoop.submit { polling.secondsPolled() }.get()
        }
    }

    /// How long the loop, polling with a 5 s window after a read, takes to do what `wake` asks of
    /// it: `wake` returns when that was done. Expects the loop to have polled.
    func delayWhilePolling(_ wake: (Harness) async throws -> ContinuousClock.Instant) async throws -> Duration {
        let harness = try await Harness(microseconds: 5_000_000)
        try await harness.noteRead()
        try await Task.sleep(for: .milliseconds(100))  // the loop is polling, for up to 5 s
        let sent = ContinuousClock.now
        let done = try await wake(harness)
        #expect(try await harness.secondsPolled() > 0)
        try await harness.shutDown()
        return done - sent
    }

    @Test func aTaskFromAnotherThreadEndsThePollingAtOnce() async throws {
        let delay = try await delayWhilePolling { harness in
            try await harness.channel.eventLoop.submit { ContinuousClock.now }.get()
        }
        #expect(delay < .milliseconds(1000))
    }

    @Test func bytesArrivingEndThePollingAtOnce() async throws {
        let delay = try await delayWhilePolling { harness in
            let sent = ContinuousClock.now
            #expect(write(harness.peerSocket, "ping", 4) == 4)
            var read: ContinuousClock.Instant?
            while read == nil, ContinuousClock.now - sent < .seconds(10) {
                try await Task.sleep(for: .milliseconds(5))
                read = harness.reads.lastRead.withLockedValue { $0 }
            }
            return try #require(read)
        }
        #expect(delay < .milliseconds(1000))
    }

    @Test func pollingStopsWhenTheWindowHasPassed() async throws {
        let harness = try await Harness(microseconds: 100_000)
        try await harness.noteRead()
        try await Task.sleep(for: .milliseconds(400))
        let polled = try await harness.secondsPolled()
        // It polled, and for no longer than the window (CPU time: less if it was descheduled).
        #expect(polled > 0)
        #expect(polled < 0.15)
        // The window since the read has long passed: the loop sleeps and polls no more.
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await harness.secondsPolled() == polled)
        try await harness.shutDown()
    }

    @Test func workArrivingFurtherApartThanTheWindowStopsThePollingUntilItComesCloser() async throws {
        let harness = try await Harness(microseconds: 20_000)
        let loop = harness.channel.eventLoop
        try await harness.noteRead()
        try await Task.sleep(for: .milliseconds(100))
        // Ticks 50 ms apart (one task each, from another thread, which nothing waits for): the
        // loop's recent gaps are all longer than the 20 ms window.
        for _ in 0..<24 {
            loop.execute {}
            try await Task.sleep(for: .milliseconds(50))
        }
        let before = try await harness.secondsPolled()
        try await harness.noteRead()
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await harness.secondsPolled() == before)

        // Work comes close together again (ticks 2 ms apart, each a timer of the loop's own: tasks
        // submitted one after another could all run in one tick): the next read is followed by
        // polling.
        for _ in 0..<40 { try await loop.scheduleTask(in: .milliseconds(2)) {}.futureResult.get() }
        try await harness.noteRead()
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await harness.secondsPolled() > before)
        try await harness.shutDown()
    }

    @Test func aLoopThatHasNotReadOrHasNoWindowNeverPolls() async throws {
        let harness = try await Harness(microseconds: 5_000_000)
        for _ in 0..<20 { try await harness.channel.eventLoop.submit {}.get() }
        #expect(try await harness.secondsPolled() == 0)
        try await harness.shutDown()

        let other = try await Harness(microseconds: 0)
        try await other.noteRead()
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await other.secondsPolled() == 0)
        try await other.shutDown()
    }

    @Test func theMachineIdleShareCountsPollingAsIdle() throws {
        let line = Array("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n".utf8)
        let times = try #require(line.withUnsafeBufferPointer { MachineTimes.parse($0) })
        let ticks = MachineTimes.ticksPerSecond
        #expect(abs(times.total - 1000 / ticks) < 1e-9)
        #expect(abs(times.idle - 850 / ticks) < 1e-9)

        let earlier = MachineSample(times: MachineTimes(total: 10, idle: 5), polled: 0)
        // 2 s of CPU time passed, 0.4 s idle, 0.6 s of it polling by the loops: half spare.
        let later = MachineSample(times: MachineTimes(total: 12, idle: 5.4), polled: 600_000_000)
        #expect(abs(try #require(later.idleShare(since: earlier)) - 0.5) < 1e-9)
        #expect(earlier.idleShare(since: earlier) == nil)
        #expect(MachineTimes.parse(UnsafeBufferPointer(start: nil, count: 0)) == nil)
    }
}
