import Foundation

/// What a command prints at the end: human text, or one JSON object with `--json`.
protocol RunSummary: Encodable {
    var text: String { get }
}

enum SummaryOutput {
    static func print(_ summary: some RunSummary, json: Bool) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            let data = (try? encoder.encode(summary)) ?? Data("{}".utf8)
            FileHandle.standardOutput.write(data + Data("\n".utf8))
        } else {
            FileHandle.standardOutput.write(Data((summary.text + "\n").utf8))
        }
    }
}

/// A rate, rounded to one decimal for reports.
func rate(_ count: Int, over seconds: Double) -> Double {
    seconds > 0 ? (Double(count) / seconds * 10).rounded() / 10 : 0
}

/// Seconds rounded to milliseconds for reports.
func roundedSeconds(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }
