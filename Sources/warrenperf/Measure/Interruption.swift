import Dispatch
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Ctrl-C (SIGINT) or SIGTERM: the first asks the run to stop and print its summary; a second
/// exits at once.
final class Interruption: Sendable {
    private let signals = NIOLockedValueBox(0)
    /// Kept for the life of the process; written once, before any signal can arrive.
    nonisolated(unsafe) private static var sources: [DispatchSourceSignal] = []

    static let shared = Interruption()

    private init() {}

    func install() {
        let queue = DispatchQueue(label: "warrenperf.signals")
        var installed: [DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [self] in
                let count = signals.withLockedValue {
                    $0 += 1
                    return $0
                }
                if count > 1 {
                    MeasurementWindow.report("warrenperf: interrupted twice, exiting")
                    exit(130)
                }
            }
            source.resume()
            installed.append(source)
        }
        Self.sources = installed
    }

    var requested: Bool { signals.withLockedValue { $0 > 0 } }
}
