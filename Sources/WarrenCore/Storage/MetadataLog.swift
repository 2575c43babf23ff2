import Foundation
import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A vhost's durable topology as an append-only log of JSON lines, compacted into a snapshot
/// at start-up. Appends are written at once (they survive the broker being killed) and made
/// durable by the store's next group sync.
final class MetadataLog {
    let path: String
    private(set) var fd: Int32
    private var pending = ByteBuffer()
    /// Written since the last `takeUnsynced()`: the next group sync must include the file.
    private var unsynced = false
    private let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    init(path: String) throws(StorageError) {
        self.path = path
        fd = try PosixFile.open(path, flags: O_WRONLY | O_CREAT | O_APPEND)
    }

    deinit { close(fd) }

    func append(_ record: TopologyRecord) {
        guard let line = try? encoder.encode(record) else { return }
        pending.writeBytes(line)
        pending.writeInteger(UInt8(ascii: "\n"))
    }

    func flush() throws(StorageError) {
        guard pending.readableBytes > 0 else { return }
        try PosixFile.write(fd, pending, path: path)
        pending.clear()
        unsynced = true
    }

    /// The file's descriptor if it was written since the last call (a clean file needs no
    /// fdatasync, which costs a device flush even then).
    func takeUnsynced() -> Int32? {
        defer { unsynced = false }
        return unsynced ? fd : nil
    }

    /// True when the log's last line has no newline (a write cut short).
    static func endsTorn(path: String) throws(StorageError) -> Bool {
        guard let buffer = try PosixFile.readAll(path), buffer.readableBytes > 0 else { return false }
        return buffer.getInteger(at: buffer.writerIndex - 1, as: UInt8.self) != UInt8(ascii: "\n")
    }

    /// Every record in the log; a torn last line is ignored.
    static func read(path: String, logger: Logger) throws(StorageError) -> [TopologyRecord] {
        guard let buffer = try PosixFile.readAll(path) else { return [] }
        let decoder = JSONDecoder()
        var records: [TopologyRecord] = []
        for line in buffer.readableBytesView.split(separator: UInt8(ascii: "\n")) {
            if let record = try? decoder.decode(TopologyRecord.self, from: Data(line)) {
                records.append(record)
            } else {
                logger.warning("ignored an unreadable line in \(path)")
            }
        }
        return records
    }

    /// Replaces the log with `records` atomically (write, sync, rename, sync the directory).
    static func writeSnapshot(_ records: [TopologyRecord], path: String) throws(StorageError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var buffer = ByteBuffer()
        for record in records {
            if let line = try? encoder.encode(record) {
                buffer.writeBytes(line)
                buffer.writeInteger(UInt8(ascii: "\n"))
            }
        }
        let temporary = path + ".tmp"
        let fd = try PosixFile.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { close(fd) }
        try PosixFile.write(fd, buffer, path: temporary)
        PosixFile.syncData(fd)
        guard rename(temporary, path) == 0 else { throw StorageError("cannot rename", temporary) }
        let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        if let dirFD = try? PosixFile.open(directory.isEmpty ? "." : directory, flags: O_RDONLY) {
            PosixFile.syncData(dirFD)
            close(dirFD)
        }
    }
}
