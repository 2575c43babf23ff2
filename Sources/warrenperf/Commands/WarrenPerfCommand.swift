import ArgumentParser

@main
struct WarrenPerfCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "warrenperf",
        abstract: "Load and latency measurements for any AMQP 0-9-1 broker.",
        discussion: """
            Each command prints one line of rates per second to stderr and a summary to stdout \
            (one JSON object with --json). Ctrl-C stops a run and prints the summary so far.
            """,
        subcommands: [ThroughputCommand.self, LatencyCommand.self, ConnectionsCommand.self, QueueChurnCommand.self]
    )
}
