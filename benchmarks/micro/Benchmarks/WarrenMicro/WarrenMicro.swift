import Benchmark

/// Every benchmark of Warren's hot paths; each file registers one group.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal, .instructions],
        warmupIterations: 3,
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        maxIterations: 1_000
    )
    frameCodingBenchmarks()
    topicRoutingBenchmarks()
    queueBenchmarks()
    segmentAppendBenchmarks()
}
