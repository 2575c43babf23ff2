/// Round-trip times in nanoseconds, in log-linear buckets: exact below 2048 ns, then 1024
/// buckets per power of two (0.1 % resolution), up to about 18 minutes, in constant memory.
struct LatencyHistogram: Sendable {
    private static let subBucketBits = 10
    private static let subBuckets = 1 << subBucketBits
    private static let bucketCount = 32 * subBuckets

    private var counts: [UInt64]
    private(set) var count: UInt64 = 0
    private(set) var sum: UInt64 = 0
    private(set) var min = UInt64.max
    private(set) var max: UInt64 = 0

    init() {
        counts = Array(repeating: 0, count: Self.bucketCount)
    }

    mutating func record(nanoseconds value: UInt64) {
        counts[Swift.min(Self.index(of: value), Self.bucketCount - 1)] += 1
        count += 1
        sum &+= value
        min = Swift.min(min, value)
        max = Swift.max(max, value)
    }

    mutating func merge(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        for i in counts.indices where other.counts[i] != 0 { counts[i] += other.counts[i] }
        count += other.count
        sum &+= other.sum
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    /// The smallest recorded value such that a fraction `p` (0...1) of values are at or below
    /// it, to the bucket's resolution; the true maximum for p = 1.
    func percentile(_ p: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        if p >= 1 { return max }
        let rank = Swift.max(1, UInt64((p * Double(count)).rounded(.up)))
        var seen: UInt64 = 0
        for (i, n) in counts.enumerated() where n != 0 {
            seen += n
            if seen >= rank { return Swift.min(Swift.max(Self.value(at: i), min), max) }
        }
        return max
    }

    var mean: Double { count == 0 ? 0 : Double(sum) / Double(count) }

    static func index(of value: UInt64) -> Int {
        if value < UInt64(2 * subBuckets) { return Int(value) }
        let highestBit = 63 - value.leadingZeroBitCount
        let shift = highestBit - subBucketBits
        return (shift + 1) * subBuckets + Int(value >> UInt64(shift)) - subBuckets
    }

    /// The upper end of bucket `index`.
    static func value(at index: Int) -> UInt64 {
        if index < 2 * subBuckets { return UInt64(index) }
        let shift = index / subBuckets - 1
        let sub = UInt64(index % subBuckets + subBuckets)
        return ((sub + 1) << UInt64(shift)) - 1
    }
}
