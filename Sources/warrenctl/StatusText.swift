import WarrenControl
import WarrenCore

/// `warrenctl status` as text, in rabbitmqctl status's sections and wording (those that apply
/// to Warren), from the JSON document the broker sends.
enum StatusText {
    static func render(_ document: JSONValue) -> String {
        guard case .object(let status) = document else { return "" }
        func int(_ value: JSONValue?) -> Int64? {
            switch value {
            case .int(let i): i
            case .double(let d): Int64(d)
            default: nil
            }
        }
        func member(_ key: String, _ name: String) -> JSONValue? {
            guard case .object(let object) = status[key] else { return nil }
            return object[name]
        }
        var sections: [(String, [String])] = []
        sections.append(
            (
                "Runtime",
                [
                    "OS PID: \(int(status["pid"]).map(String.init) ?? "")",
                    "OS: \(ControlTableFormatter.cell(status["os"] ?? .null))",
                    "Uptime (seconds): \(int(status["uptime"]).map(String.init) ?? "")",
                    "Warren version: \(ControlTableFormatter.cell(status["product_version"] ?? .null))",
                    "Node name: \(NodeName.local)",
                ]
            ))

        var alarms: [String] = []
        if case .array(let raised) = status["alarms"] {
            for alarm in raised {
                guard case .object(let fields) = alarm, case .string(let resource) = fields["resource"] else {
                    continue
                }
                let node = ControlTableFormatter.cell(fields["node"] ?? .null)
                alarms.append(
                    resource == "disk" ? "Free disk space alarm on node \(node)" : "Memory alarm on node \(node)")
            }
        }
        sections.append(("Alarms", alarms.isEmpty ? ["(none)"] : alarms))

        let limit = int(status["vm_memory_high_watermark_limit"]) ?? 0
        var setting = ""
        if let relative = member("vm_memory_high_watermark_setting", "relative") {
            let fraction: Double =
                switch relative {
                case .double(let d): d
                case .int(let i): Double(i)
                default: 0
                }
            setting = "\(fraction) of available memory, computed to: \(gigabytes(limit)) gb"
        } else if let absolute = int(member("vm_memory_high_watermark_setting", "absolute")) {
            setting = "\(gigabytes(absolute)) gb, computed to: \(gigabytes(limit)) gb"
        }
        var rss: Int64 = 0
        if case .object(let total) = member("memory", "total") { rss = int(total["rss"]) ?? 0 }
        sections.append(
            (
                "Memory",
                [
                    "Total memory used: \(gigabytes(rss)) gb",
                    "Calculation strategy: \(ControlTableFormatter.cell(status["vm_memory_calculation_strategy"] ?? .null))",
                    "Memory high watermark setting: \(setting)",
                ]
            ))
        sections.append(
            (
                "Free Disk Space",
                [
                    "Low free disk space watermark: \(gigabytes(int(status["disk_free_limit"]) ?? 0)) gb",
                    "Free disk space: \(gigabytes(int(status["disk_free"]) ?? 0)) gb",
                ]
            ))
        sections.append(
            (
                "Totals",
                [
                    "Connection count: \(int(member("totals", "connection_count")) ?? 0)",
                    "Queue count: \(int(member("totals", "queue_count")) ?? 0)",
                    "Virtual host count: \(int(member("totals", "virtual_host_count")) ?? 0)",
                ]
            ))
        return sections.map { title, lines in title + "\n\n" + lines.joined(separator: "\n") + "\n" }
            .joined(separator: "\n")
    }

    /// Bytes as rabbitmqctl shows them: gigabytes (10^9) rounded to 4 decimals, printed as
    /// Erlang prints a float, the shorter of `85.009` and `1.0e3` (the plain form on a tie).
    static func gigabytes(_ bytes: Int64) -> String {
        let value = (Double(bytes) / 1e9 * 10_000).rounded() / 10_000
        return erlangFloat(value)
    }

    static func erlangFloat(_ value: Double) -> String {
        var plain = "\(value)"
        if !plain.contains(".") && !plain.contains("e") { plain += ".0" }
        guard value != 0, value.isFinite, !plain.contains("e") else { return plain }
        // Scientific form: the significant digits d.ddd and the power of ten.
        let negative = value < 0
        let unsigned = negative ? String(plain.dropFirst()) : plain
        let parts = unsigned.split(separator: ".", omittingEmptySubsequences: false)
        let whole = parts[0]
        let fraction = parts.count > 1 ? parts[1] : ""
        let digits = Array(whole + fraction)
        guard let first = digits.firstIndex(where: { $0 != "0" }) else { return plain }
        let exponent = whole.count - 1 - first
        var significant = String(digits[first...])
        while significant.count > 1 && significant.hasSuffix("0") { significant.removeLast() }
        let mantissa =
            String(significant.prefix(1)) + "." + (significant.count > 1 ? String(significant.dropFirst()) : "0")
        let scientific = (negative ? "-" : "") + mantissa + "e" + String(exponent)
        return scientific.count < plain.count ? scientific : plain
    }
}
