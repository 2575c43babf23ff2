import ArgumentParser
import Foundation
import WarrenControl

struct SetVmMemoryHighWatermark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set_vm_memory_high_watermark", abstract: "Sets the vm_memory_high_watermark setting",
        discussion: """
            <fraction>: new limit as a fraction of total memory available to the broker (0.0 to 1.0).
            absolute <value>: new limit as an absolute value with units, e.g. 1GB.
            Takes effect at once: the memory alarm is raised or cleared against the new limit.
            """)
    static let usage = "set_vm_memory_high_watermark <fraction> | absolute <value>"
    @OptionGroup var options: ControlOptions
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("<fraction> | absolute <value>", valueName: "fraction"))
    var words: [String] = []

    func run() async throws {
        let check = ArgumentCheck(command: Self.configuration.commandName!, words: words, usage: Self.usage)
        let request: ControlRequest
        let target: String
        if words.first == "absolute" {
            let value = try check.count(2)
            let bytes = try check.bytes(value, detailed: true)
            request = ControlRequest(command: "set_vm_memory_high_watermark", options: ["absolute": String(bytes)])
            target = "\(value) bytes"
        } else {
            let value = try check.count(1)
            guard let fraction = ArgumentCheck.fraction(value) else { throw check.bad() }
            guard (0...1).contains(fraction) else {
                throw check.bad("The threshold should be a fraction between 0.0 and 1.0")
            }
            request = ControlRequest(command: "set_vm_memory_high_watermark", options: ["relative": String(fraction)])
            target = value
        }
        try await BrokerCall(options: options).runSetting(
            request, inform: "Setting memory threshold on \(NodeName.local) to \(target) ...")
    }
}

struct SetDiskFreeLimit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set_disk_free_limit", abstract: "Sets the disk_free_limit setting",
        discussion: """
            <disk_limit>: new limit as an absolute value with units, e.g. 1GB.
            mem_relative <fraction>: new limit as a fraction of total memory available to the broker.
            Takes effect at once: the disk alarm is raised or cleared against the new limit.
            """)
    static let usage = "set_disk_free_limit <disk_limit> | mem_relative <fraction>"
    @OptionGroup var options: ControlOptions
    @Argument(
        parsing: .allUnrecognized, help: ArgumentHelp("<disk_limit> | mem_relative <fraction>", valueName: "disk_limit")
    )
    var words: [String] = []

    func run() async throws {
        let check = ArgumentCheck(command: Self.configuration.commandName!, words: words, usage: Self.usage)
        let request: ControlRequest
        let target: String
        if words.first == "mem_relative" {
            let value = try check.count(2)
            guard let factor = ArgumentCheck.fraction(value), factor >= 0 else { throw check.bad() }
            request = ControlRequest(command: "set_disk_free_limit", options: ["mem_relative": String(factor)])
            target = "\(value) times the total RAM"
        } else {
            let value = try check.count(1)
            // rabbitmqctl takes a negative limit, which no free space is below.
            let negative = value.hasPrefix("-")
            let bytes = try check.bytes(negative ? String(value.dropFirst()) : value, detailed: false)
            request = ControlRequest(
                command: "set_disk_free_limit", options: ["absolute": String(negative ? 0 : bytes)])
            target = "\(value) bytes"
        }
        try await BrokerCall(options: options).runSetting(
            request, inform: "Setting disk free limit on \(NodeName.local) to \(target) ...")
    }
}

/// rabbitmqctl's argument validation for the limit commands: its messages and exit statuses
/// (64 for a wrong number of arguments, 65 for a value it cannot use), before the broker is asked.
struct ArgumentCheck {
    var command: String
    var words: [String]
    var usage: String

    /// The last word, when there are exactly `expected` words.
    func count(_ expected: Int) throws -> String {
        if words.count < expected { throw failure("not enough arguments.", status: .usage) }
        if words.count > expected { throw failure("too many arguments.", status: .usage) }
        return words[expected - 1]
    }

    func bad(_ detail: String? = nil) -> ExitCode {
        failure("Bad argument" + (detail.map { ": " + $0 } ?? "."), status: .dataError)
    }

    /// Bytes with one of rabbitmqctl's units (k, kB, kiB, M, MB, MiB, G, GB, GiB). `detailed`:
    /// say what is wrong, as set_vm_memory_high_watermark does (set_disk_free_limit does not).
    func bytes(_ text: String, detailed: Bool) throws -> Int64 {
        guard let digits = integerPart(text[...]) else { throw bad() }
        let unit = text.dropFirst(digits.count)
        if unit.hasPrefix(".") { throw detailed ? bad("The threshold should be an integer.") : bad() }
        if !unit.isEmpty && !InformationUnit.commandLineUnits.contains(String(unit)) {
            throw detailed ? bad("Invalid units.") : bad()
        }
        guard let bytes = InformationUnit.bytes(text) else { throw bad() }
        return bytes
    }

    /// The leading decimal digits, if there are any.
    func integerPart(_ text: Substring) -> Substring? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        return digits.isEmpty ? nil : digits
    }

    /// A number as rabbitmqctl reads a fraction: digits, optionally a point and digits, and an
    /// exponent (`0.4`, `1`, `5e-1`; not `.5`).
    static func fraction(_ text: String) -> Double? {
        guard text.wholeMatch(of: /[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/) != nil else { return nil }
        return Double(text)
    }

    private func failure(_ message: String, status: ControlExitStatus) -> ExitCode {
        fail(
            """
            Error (argument validation): \(message)
            Arguments given:
            \t\(([command] + words).joined(separator: " "))

            Usage

            warrenctl [--data-dir <dir>] [--quiet] \(usage)
            """, status: status)
    }
}

extension BrokerCall {
    /// A command that changes a setting: the informational line, then nothing (with
    /// `--formatter json`, rabbitmqctl's `{"node":…,"result":"ok"}`).
    func runSetting(_ request: ControlRequest, inform message: String) async throws {
        try await send(request, inform: message)
        if options.formatter == .json {
            write(#"{"node":"\#(NodeName.local)","result":"ok"}"# + "\n")
        }
    }
}
