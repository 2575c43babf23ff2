/// Byte counts as RabbitMQ reads them: a plain integer, or an integer followed by a unit.
/// `k`/`kiB`, `M`/`MiB`, `G`/`GiB` are powers of 1024; `kB`, `MB`, `GB` powers of 1000
/// (`disk_free_limit.absolute = 50MB` is 50,000,000 bytes). The config file takes more
/// spellings of each unit than rabbitmqctl does.
public enum InformationUnit {
    /// The units rabbitmqctl's set_vm_memory_high_watermark and set_disk_free_limit take.
    public static let commandLineUnits: Set<String> = ["k", "kB", "kiB", "M", "MB", "MiB", "G", "GB", "GiB"]

    private static let multipliers: [String: Int64] = {
        var table: [String: Int64] = [:]
        for unit in ["k", "K", "kiB", "KiB", "KIB", "kib"] { table[unit] = 1 << 10 }
        for unit in ["m", "M", "MiB", "MIB", "mib"] { table[unit] = 1 << 20 }
        for unit in ["g", "G", "GiB", "GIB", "gib"] { table[unit] = 1 << 30 }
        for unit in ["kB", "KB", "kb", "Kb"] { table[unit] = 1_000 }
        for unit in ["MB", "mb", "Mb"] { table[unit] = 1_000_000 }
        for unit in ["GB", "gb", "Gb"] { table[unit] = 1_000_000_000 }
        return table
    }()

    /// The number of bytes, or nil when the text is not of that form or overflows.
    public static func bytes(_ text: String) -> Int64? {
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = Int64(digits) else { return nil }
        let unit = String(text.dropFirst(digits.count))
        if unit.isEmpty { return value }
        guard let multiplier = multipliers[unit] else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }

    /// The unit part of `text` (what follows its leading digits and optional sign).
    public static func unit(of text: String) -> String {
        String(text.drop { $0 == "-" || ($0.isASCII && $0.isNumber) })
    }
}
