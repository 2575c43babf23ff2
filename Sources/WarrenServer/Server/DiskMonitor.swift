import Logging
import NIOConcurrencyHelpers
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// The disk alarm as a value: raised when free space in the data directory falls below the
/// limit, cleared when it is back above it.
struct DiskAlarm: Equatable {
    var limit: UInt64
    private(set) var isRaised = false

    init(limit: UInt64) {
        self.limit = limit
    }

    enum Transition: Equatable { case raised, cleared }

    mutating func update(freeBytes: UInt64) -> Transition? {
        let low = freeBytes < limit
        guard low != isRaised else { return nil }
        isRaised = low
        return low ? .raised : .cleared
    }
}

/// Free bytes on the filesystem holding `path`, for unprivileged users.
func freeDiskBytes(at path: String) -> UInt64? {
    var s = statvfs()
    guard statvfs(path, &s) == 0 else { return nil }
    return UInt64(s.f_bavail) * UInt64(s.f_frsize)
}

/// Raised through the pipeline when the disk alarm is raised or cleared.
struct ResourceAlarmEvent {
    var blocked: Bool
}
