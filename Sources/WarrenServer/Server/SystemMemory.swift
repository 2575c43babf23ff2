import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What the memory alarm measures, read from /proc and /sys: the broker's resident memory and
/// the memory available to it (the machine's, or its cgroup's limit when that is smaller).
enum SystemMemory {
    /// Resident bytes of this process (`/proc/self/statm`), or nil where there is no /proc.
    static func residentBytes() -> UInt64? {
        guard let text = read("/proc/self/statm") else { return nil }
        return residentBytes(statm: text, pageSize: UInt64(sysconf(Int32(_SC_PAGESIZE))))
    }

    /// The second field of statm is the resident set in pages.
    static func residentBytes(statm: String, pageSize: UInt64) -> UInt64? {
        let fields = statm.split(whereSeparator: \.isWhitespace)
        guard fields.count >= 2, let pages = UInt64(fields[1]) else { return nil }
        return pages * pageSize
    }

    /// The memory available to the broker: MemTotal, or the cgroup's memory limit if lower.
    static func totalBytes() -> UInt64? {
        let machine = read("/proc/meminfo").flatMap(memTotal(meminfo:))
        let cgroupPaths = cgroupLimitFiles(procSelfCgroup: read("/proc/self/cgroup") ?? "")
        let limits = cgroupPaths.compactMap { path in read(path).flatMap(cgroupLimit) }
        return total(machine: machine, cgroupLimits: limits)
    }

    /// The smaller of the machine's memory and any cgroup limit.
    static func total(machine: UInt64?, cgroupLimits: [UInt64]) -> UInt64? {
        let all = (machine.map { [$0] } ?? []) + cgroupLimits
        return all.min()
    }

    /// `MemTotal:       24684084 kB` in bytes.
    static func memTotal(meminfo: String) -> UInt64? {
        for line in meminfo.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.split(whereSeparator: \.isWhitespace)
            guard fields.count >= 2, let value = UInt64(fields[1]) else { return nil }
            let unit = fields.count >= 3 ? fields[2].lowercased() : ""
            return unit == "kb" ? value * 1024 : value
        }
        return nil
    }

    /// A cgroup memory limit file's value: bytes, or nil for "max" (v2, no limit). cgroup v1
    /// writes a huge number when there is no limit; the smaller MemTotal then wins.
    static func cgroupLimit(_ text: String) -> UInt64? {
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard value != "max", let bytes = UInt64(value), bytes > 0 else { return nil }
        return bytes
    }

    /// The limit files that apply to this process, from `/proc/self/cgroup`: cgroup v2's
    /// `memory.max` (line `0::/path`) and cgroup v1's `memory.limit_in_bytes` (a line whose
    /// controllers include `memory`), in the process's own cgroup and at the root of the
    /// mount (which is the process's own cgroup inside a container).
    static func cgroupLimitFiles(procSelfCgroup: String, root: String = "/sys/fs/cgroup") -> [String] {
        var files: [String] = []
        for line in procSelfCgroup.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = parts[2] == "/" ? "" : String(parts[2])
            if parts[0] == "0" && parts[1].isEmpty {
                files.append(root + path + "/memory.max")
                if !path.isEmpty { files.append(root + "/memory.max") }
            } else if parts[1].split(separator: ",").contains("memory") {
                files.append(root + "/memory" + path + "/memory.limit_in_bytes")
                if !path.isEmpty { files.append(root + "/memory/memory.limit_in_bytes") }
            }
        }
        return files
    }

    private static func read(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }
}

/// Free bytes on the filesystem holding `path`, for unprivileged users.
func freeDiskBytes(at path: String) -> UInt64? {
    var s = statvfs()
    guard statvfs(path, &s) == 0 else { return nil }
    return UInt64(s.f_bavail) * UInt64(s.f_frsize)
}
