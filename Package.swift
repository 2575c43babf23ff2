// swift-tools-version: 6.1
import PackageDescription

// Release builds skip Swift's run-time exclusivity checks in Warren's own modules: on the message
// path they cost about a sixth of the broker's CPU (perf, see BENCHMARKS.md). Debug builds, which
// the unit tests run, keep them, so an access conflict still fails a test.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "warren",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "warren", targets: ["warren"]),
        .library(name: "AMQPProtocol", targets: ["AMQPProtocol"]),
        .library(name: "WarrenCore", targets: ["WarrenCore"]),
        .library(name: "WarrenServer", targets: ["WarrenServer"]),
        .library(name: "WarrenControl", targets: ["WarrenControl"]),
        .executable(name: "warrenctl", targets: ["warrenctl"]),
        .executable(name: "warrenperf", targets: ["warrenperf"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        // Pure AMQP 0-9-1 codec: ByteBuffer in, values out. No sockets, no event loops.
        .target(
            name: "AMQPProtocol",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: hotPath
        ),
        // Small C helpers for the hot paths Swift cannot reach (hardware CRC-32C).
        .target(name: "CWarrenSupport"),
        // Broker core: vhosts, exchanges, routing, queues, consumers. Testable without a network.
        .target(
            name: "WarrenCore",
            dependencies: [
                "AMQPProtocol",
                "CWarrenSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "OrderedCollections", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: hotPath
        ),
        // Thin NIO server layer: sockets, framing, connection state machines.
        .target(
            name: "WarrenServer",
            dependencies: [
                "AMQPProtocol",
                "WarrenCore",
                "WarrenControl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPath
        ),
        .executableTarget(
            name: "warren",
            dependencies: [
                "WarrenServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPath
        ),
        // The control socket: warrenctl's wire protocol, its client, the broker-side server, and
        // the user/vhost/permission commands over a UserDatabase.
        .target(
            name: "WarrenControl",
            dependencies: [
                "AMQPProtocol",
                "WarrenCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: hotPath
        ),
        .executableTarget(
            name: "warrenctl",
            dependencies: [
                "WarrenControl",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The load tool: an AMQP 0-9-1 client on SwiftNIO and AMQPProtocol, for any broker.
        .executableTarget(
            name: "warrenperf",
            dependencies: [
                "AMQPProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: hotPath
        ),
        .testTarget(
            name: "WarrenAdminTests",
            dependencies: [
                "WarrenCore", "WarrenServer", "WarrenControl", "AMQPProtocol", "warrenctl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "AMQPProtocolTests",
            dependencies: ["AMQPProtocol", .product(name: "NIOCore", package: "swift-nio")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "WarrenCoreTests",
            dependencies: ["WarrenCore", "AMQPProtocol", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "WarrenServerTests",
            dependencies: [
                "WarrenServer", "WarrenCore", "AMQPProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
