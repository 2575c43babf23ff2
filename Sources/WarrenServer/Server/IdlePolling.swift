import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Keeps an event loop that has just read asking for more work, for a short while, before it
/// sleeps.
///
/// A loop that sleeps in `epoll_wait` is woken by the kernel when a client writes; on a virtual
/// machine whose idle CPUs halt, that wake-up goes through the hypervisor, and a request/reply
/// round trip through the broker pays two of them in the broker alone. So at the end of each of
/// its ticks (after every task, when NIO would otherwise block), a loop that read in the last
/// `window` polls its own epoll descriptor without blocking (a `poll` on an epoll descriptor
/// reports whether any of its sockets, timers or cross-thread wake-ups is ready, and consumes
/// nothing) until something is ready or the window has passed since that read. Between polls it
/// yields its CPU, so that any other runnable thread there goes first. And it polls only while
/// the machine has CPU to spare: while at least `spareShare` of all CPUs' time was idle over the
/// last few tenths of a second (counting the loops' own polling as idle), so that polling never
/// takes time that clients or the broker's other threads need; and only while most of the loop's
/// recent idle gaps were shorter than the window, so that a trickle of messages, each arriving
/// after the window has passed, does not make it poll in vain after every one. The time spent
/// polling is not counted as the loop's work (`LoopLoad`).
///
/// It is the group's `NIOEventLoopMetricsDelegate`, which NIO calls at the end of every tick, on
/// the loop's thread; each loop thread's state is thread-specific.
public final class IdlePolling: NIOEventLoopMetricsDelegate, Sendable {
    /// The default window, in microseconds (`warren --idle-poll`).
    public static let defaultMicroseconds = 200

    /// Polls only while at least this share of the machine's CPU time is idle.
    static let spareShare = 1.0 / 3
    /// Polls only while at least this share of the loop's recent idle gaps (the time from the end
    /// of one tick, polling included, to the start of the next) were shorter than the window:
    /// when work arrives further apart, polling would only burn CPU.
    static let shortGapShare = 0.5

    private let window: UInt64
    private let states = ThreadSpecificVariable<LoopState>()
    /// Thread CPU time all loops have spent polling, in nanoseconds, as of their last samples.
    private let polledByAll = NIOLockedValueBox<UInt64>(0)
    /// Set by `stop()`.
    private let stopped = NIOLockedValueBox(false)

    /// Polls for up to `microseconds` after a read; 0 never polls.
    public init(microseconds: Int) {
        window = UInt64(max(0, microseconds)) * 1000
    }

    public func processedTick(info: NIOEventLoopTickInfo) {
        guard window > 0, let state = states.currentValue else { return }
        state.noteIdleGap(UInt64(max(0, info.sleepTime.nanoseconds)), window: window)
        guard state.machineHasSpareTime, state.shortGaps >= Self.shortGapShare else { return }
        state.poll(window: window, stopped: stopped)
    }

    /// No loop polls from now on (a loop polling ends within a poll): for shutting the group
    /// down, whose last tasks would otherwise leave each loop polling out its window.
    public func stop() {
        stopped.withLockedValue { $0 = true }
    }

    private var state: LoopState {
        if let current = states.currentValue { return current }
        let state = LoopState()
        states.currentValue = state
        return state
    }

    /// On a loop's thread: a connection on that loop, whose socket is `descriptor`, has just read.
    func noteRead(socket descriptor: CInt) {
        guard window > 0 else { return }
        let state = self.state
        state.lastRead = Self.now()
        if state.epoll == LoopState.unknown, descriptor >= 0 {
            state.epoll = Self.epollDescriptor(watching: descriptor) ?? LoopState.notFound
        }
    }

    /// On a loop's thread: the seconds of CPU time it has spent polling so far.
    func secondsPolled() -> Double {
        guard let state = states.currentValue else { return 0 }
        return Double(state.polled) / 1e9
    }

    /// On a loop's thread, every `LoopPlacement.tick`: measures the machine's idle share over the
    /// last `LoopPlacement.window` ticks and decides whether this loop may poll.
    func sample() {
        guard window > 0, let machine = MachineTimes.read() else { return }
        let state = self.state
        let polled = polledByAll.withLockedValue {
            $0 &+= state.polled &- state.reportedPolled
            return $0
        }
        state.reportedPolled = state.polled
        let sample = MachineSample(times: machine, polled: polled)
        state.samples.append(sample)
        if state.samples.count > LoopPlacement.window + 1 { state.samples.removeFirst() }
        if let share = sample.idleShare(since: state.samples[0]) {
            state.machineHasSpareTime = share >= Self.spareShare
        }
    }

    /// `clock`'s time in nanoseconds: the monotonic clock by default, or a thread's CPU time.
    static func now(_ clock: clockid_t = CLOCK_MONOTONIC) -> UInt64 {
        var time = timespec()
        clock_gettime(clock, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// The epoll instance of this process that watches `socket`: the calling loop's own, since a
    /// socket is registered with one loop only. Read once per loop from `/proc/self/fdinfo`, whose
    /// entry for an epoll descriptor lists the descriptors it watches (`tfd:` lines).
    static func epollDescriptor(watching socket: CInt) -> CInt? {
        guard socket >= 0, let directory = opendir("/proc/self/fd") else { return nil }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let descriptor = CInt(name), isEpoll(descriptor),
                let info = readSmallFile("/proc/self/fdinfo/\(descriptor)")
            else { continue }
            for line in info.split(separator: "\n") where line.hasPrefix("tfd:") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                if fields.count > 1, CInt(fields[1]) == socket { return descriptor }
            }
        }
        return nil
    }

    private static func isEpoll(_ descriptor: CInt) -> Bool {
        var target = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/self/fd/\(descriptor)", &target, target.count - 1)
        guard count > 0 else { return false }
        return String(decoding: target[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            == "anon_inode:[eventpoll]"
    }

    private static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while bytes.count < 1 << 20 {
            let count = read(descriptor, &chunk, chunk.count)
            guard count > 0 else { break }
            bytes += chunk[..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// One loop thread's polling state; touched by that thread only.
private final class LoopState: @unchecked Sendable {
    static let unknown: CInt = -1
    static let notFound: CInt = -2

    /// When a connection on the loop last read (`IdlePolling.now()`).
    var lastRead: UInt64 = 0
    /// The loop's epoll descriptor, once found.
    var epoll = unknown
    /// Nanoseconds of thread CPU time spent polling, and how much of it `IdlePolling.sample` has
    /// added to the loops' total.
    var polled: UInt64 = 0
    var reportedPolled: UInt64 = 0
    /// Decided by `IdlePolling.sample`.
    var machineHasSpareTime = true
    /// The machine's last few samples (`IdlePolling.sample`).
    var samples: [MachineSample] = []
    /// A moving average (over about the last 16 ticks) of the share of idle gaps shorter than the
    /// window.
    var shortGaps = 1.0

    func noteIdleGap(_ nanoseconds: UInt64, window: UInt64) {
        shortGaps = shortGaps * (15.0 / 16) + (nanoseconds < window ? 1.0 / 16 : 0)
    }

    func poll(window: UInt64, stopped: NIOLockedValueBox<Bool>) {
        guard epoll >= 0, IdlePolling.now() &- lastRead < window else { return }
        let start = IdlePolling.now(CLOCK_THREAD_CPUTIME_ID)
        var ready = pollfd(fd: epoll, events: Int16(POLLIN), revents: 0)
        repeat {
            if Glibc.poll(&ready, 1, 0) != 0 || stopped.withLockedValue({ $0 }) { break }
            sched_yield()
        } while IdlePolling.now() &- lastRead < window
        polled &+= IdlePolling.now(CLOCK_THREAD_CPUTIME_ID) &- start
    }
}

/// The machine's CPU times and the loops' polling at one moment.
struct MachineSample {
    var times: MachineTimes
    /// Nanoseconds of CPU time all loops had spent polling.
    var polled: UInt64

    /// The share of all CPUs' time since `earlier` that was idle or spent polling (0 to 1), or
    /// nil if no time has passed.
    func idleShare(since earlier: MachineSample) -> Double? {
        let total = times.total - earlier.times.total
        guard total > 0 else { return nil }
        let idle = times.idle - earlier.times.idle + Double(polled &- earlier.polled) / 1e9
        return min(1, max(0, idle / total))
    }
}

/// All CPUs' time since boot, and how much of it was idle, in seconds (`/proc/stat`'s first
/// line).
struct MachineTimes {
    var total: Double
    var idle: Double

    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    static func read() -> MachineTimes? {
        let descriptor = open("/proc/stat", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { buffer in
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            guard count > 0 else { return nil }
            return parse(UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// "cpu  user nice system idle iowait irq softirq steal ...": idle and iowait are idle.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> MachineTimes? {
        let line = bytes.prefix { $0 != UInt8(ascii: "\n") }
        let fields = line.split(separator: UInt8(ascii: " "))
        guard fields.count >= 5, fields[0].elementsEqual("cpu".utf8) else { return nil }
        var values: [Double] = []
        for field in fields.dropFirst().prefix(8) {
            guard let value = UInt64(String(decoding: field, as: UTF8.self)) else { return nil }
            values.append(Double(value) / ticksPerSecond)
        }
        let idle = values[3] + (values.count > 4 ? values[4] : 0)
        return MachineTimes(total: values.reduce(0, +), idle: idle)
    }
}
