import ArgumentParser
import NIOCore
import NIOPosix

/// Options every command takes: where to connect, how long to run, how to report.
struct RunOptions: ParsableArguments {
    @Option(help: "The broker: amqp://user:password@host:port/vhost (vhost percent-encoded).")
    var uri: String = "amqp://guest:guest@127.0.0.1:5672/%2F"

    @Option(help: "Seconds to measure; 0 runs until Ctrl-C.")
    var duration: Double = 10

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    @Option(help: "Event-loop threads for the client.")
    var threads: Int = System.coreCount

    var brokerURI: AMQPURI {
        get throws {
            guard let parsed = AMQPURI(uri) else { throw ValidationError("cannot read --uri '\(uri)'") }
            return parsed
        }
    }

    func validate() throws {
        _ = try brokerURI
        if duration < 0 { throw ValidationError("--duration must be 0 or more") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func makeEventLoopGroup() -> MultiThreadedEventLoopGroup {
        MultiThreadedEventLoopGroup(numberOfThreads: threads)
    }
}

/// A name for this run's queues and exchanges, unique enough that runs never collide.
let runID = String(UInt32.random(in: 0...UInt32.max), radix: 36)
