import NIOConcurrencyHelpers

/// Running totals shared by every workload of a run. Workloads add once per batch or read
/// burst, not per message, so one lock is cheap; a snapshot reads all totals at one instant
/// (so a snapshot never shows more consumed than published for a single queue).
final class RateMeter: Sendable {
    struct Totals: Sendable, Equatable {
        var published = 0
        var consumed = 0
        var confirmed = 0
        var nacked = 0
        var returned = 0
        /// Other operations: calls, declares, deletes, connections opened.
        var operations = 0
        var secondaryOperations = 0
        var failures = 0

        static func - (a: Totals, b: Totals) -> Totals {
            Totals(
                published: a.published - b.published, consumed: a.consumed - b.consumed,
                confirmed: a.confirmed - b.confirmed, nacked: a.nacked - b.nacked, returned: a.returned - b.returned,
                operations: a.operations - b.operations,
                secondaryOperations: a.secondaryOperations - b.secondaryOperations,
                failures: a.failures - b.failures)
        }
    }

    private let state = NIOLockedValueBox((totals: Totals(), firstError: String?.none))

    func add(
        published: Int = 0, consumed: Int = 0, confirmed: Int = 0, nacked: Int = 0, operations: Int = 0,
        secondaryOperations: Int = 0, failures: Int = 0
    ) {
        state.withLockedValue {
            $0.totals.published += published
            $0.totals.consumed += consumed
            $0.totals.confirmed += confirmed
            $0.totals.nacked += nacked
            $0.totals.operations += operations
            $0.totals.secondaryOperations += secondaryOperations
            $0.totals.failures += failures
        }
    }

    /// Records the first error of the run; the run stops when it sees one.
    func record(error: String) {
        state.withLockedValue { if $0.firstError == nil { $0.firstError = error } }
    }

    var totals: Totals { state.withLockedValue { $0.totals } }
    var firstError: String? { state.withLockedValue { $0.firstError } }
}
