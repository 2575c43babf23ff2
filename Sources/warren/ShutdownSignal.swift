import Dispatch
import Foundation

/// SIGTERM and SIGINT, caught from the moment `install` is called — before the broker listens,
/// so a signal sent as soon as the port accepts connections is handled, never fatal — and
/// awaited with `wait`.
final class ShutdownSignal: @unchecked Sendable {
    private let lock = NSLock()
    private var received: String?
    private var waiter: CheckedContinuation<String, Never>?
    private var sources: [DispatchSourceSignal] = []

    static func install() -> ShutdownSignal {
        let shutdown = ShutdownSignal()
        let queue = DispatchQueue(label: "warren.signals")
        for (number, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { shutdown.deliver(name) }
            source.resume()
            shutdown.sources.append(source)
        }
        return shutdown
    }

    private func deliver(_ name: String) {
        lock.lock()
        guard received == nil else {
            lock.unlock()
            return
        }
        received = name
        let waiting = waiter
        waiter = nil
        lock.unlock()
        waiting?.resume(returning: name)
    }

    /// The name of the first signal received (at once if one already came).
    func wait() async -> String {
        await withCheckedContinuation { continuation in
            lock.lock()
            if let received {
                lock.unlock()
                continuation.resume(returning: received)
                return
            }
            waiter = continuation
            lock.unlock()
        }
    }
}
