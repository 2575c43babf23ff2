import ArgumentParser

/// The options every warrenctl command takes, before or after the command name.
struct ControlOptions: ParsableArguments {
    @Option(help: "The broker's data directory; its control socket is <data-dir>/warren.sock.")
    var dataDir: String = "./warren-data"

    @Flag(name: [.short, .long], help: "Suppress informational messages.")
    var quiet = false

    @Flag(name: [.short, .long], help: "Suppress informational messages and table header row.")
    var silent = false

    @Flag(name: .long, help: "Leave out the header row of tables.")
    var noTableHeaders = false

    @Option(help: "Result formatter: table (tab-separated, the default) or json.")
    var formatter: ResultFormatter = .table

    @Option(name: [.short, .long], help: "Operation timeout in seconds.")
    var timeout: Double = 60

    enum ResultFormatter: String, ExpressibleByArgument {
        case table
        case json
    }

    /// Informational lines ("Adding user ...") are printed unless -q or -s; rabbitmqctl also
    /// leaves them out when printing JSON, so that the output parses.
    var informs: Bool { !quiet && !silent && formatter != .json }
}

/// `-p`/`--vhost` for commands scoped to a vhost.
struct VhostOption: ParsableArguments {
    @Option(name: [.customShort("p"), .long], help: "The virtual host.")
    var vhost: String = "/"
}
