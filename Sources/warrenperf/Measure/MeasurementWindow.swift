import Foundation

/// The measured part of a run: it lasts `duration` seconds (0: until Ctrl-C), ends early on
/// Ctrl-C or when the run records an error, and prints one line of rates to stderr each second.
struct MeasurementWindow {
    let duration: Double
    let meter: RateMeter
    let interruption = Interruption.shared

    struct Outcome {
        var elapsed: Double
        var interrupted: Bool
        /// What the meter held at the end, read at one instant.
        var totals: RateMeter.Totals
        /// Each whole second's counts.
        var perSecond: [RateMeter.Totals]
    }

    /// `line` turns one second's difference of totals into the text after `t=Ns `.
    func run(line: (RateMeter.Totals, Double) -> String) async -> Outcome {
        let start = ContinuousClock.now
        var previous = meter.totals
        var previousTime = start
        var second = 1
        var perSecond: [RateMeter.Totals] = []
        while true {
            try? await Task.sleep(for: .milliseconds(20))
            let now = ContinuousClock.now
            let elapsed = (now - start).seconds
            let interrupted = interruption.requested
            if interrupted || meter.firstError != nil || (duration > 0 && elapsed >= duration) {
                return Outcome(elapsed: elapsed, interrupted: interrupted, totals: meter.totals, perSecond: perSecond)
            }
            if elapsed >= Double(second) {
                let totals = meter.totals
                let span = (now - previousTime).seconds
                Self.report("t=\(second)s \(line(totals - previous, span))")
                perSecond.append(totals - previous)
                previous = totals
                previousTime = now
                second += 1
            }
        }
    }

    static func report(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

extension Duration {
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}

/// Formats a rate for the per-second lines: whole numbers per second.
func rateText(_ count: Int, _ seconds: Double) -> String {
    seconds > 0 ? "\(Int((Double(count) / seconds).rounded()))/s" : "0/s"
}
