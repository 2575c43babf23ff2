// swift-tools-version: 6.1
// Microbenchmarks of Warren's hot paths (package-benchmark). A package of its own, so that the
// main package's build and CI never build it. Run: swift package --package-path benchmarks/micro benchmark
import PackageDescription

let package = Package(
    name: "warren-micro-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "warren", path: "../.."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "WarrenMicro",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AMQPProtocol", package: "warren"),
                .product(name: "WarrenCore", package: "warren"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/WarrenMicro",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
