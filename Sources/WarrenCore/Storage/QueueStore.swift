import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// The persistent messages of one durable queue: append-only segment files of message records,
/// beside each segment a file of the offsets acknowledged in it and, for quorum queues, one of
/// the offsets of messages returned to the queue (once per return: their delivery counts).
///
/// Writes are buffered during a batch and written with one `write` per file in `flush()`;
/// `fdatasync` happens on the store's sync thread (group commit). A segment whose records are
/// all acknowledged is deleted, so disk use follows the queue's length. Owned by the vhost's
/// event loop.
public final class QueueStore {
    final class Segment {
        let id: UInt32
        let fd: Int32
        let path: String
        var size: UInt32
        var live: Int
        var ackFD: Int32 = -1
        var pendingAcks: ByteBuffer?
        var returnFD: Int32 = -1
        var pendingReturns: ByteBuffer?

        init(id: UInt32, fd: Int32, path: String, size: UInt32, live: Int) {
            self.id = id
            self.fd = fd
            self.path = path
            self.size = size
            self.live = live
        }

        var ackPath: String { path.replacingSuffix(".seg", with: ".ack") }
        var returnPath: String { path.replacingSuffix(".seg", with: ".ret") }
    }

    public let directory: String
    let segmentSize: UInt32
    private var segments: [UInt32: Segment] = [:]
    private var current: Segment
    private var pendingWrite = ByteBuffer()
    /// Segments written since the last sync: their fds go to the next fdatasync.
    private var unsynced: Set<UInt32> = []
    private var newDirectoryEntries = false
    /// fds of deleted segments, closed once no sync can be using them.
    var fdsToClose: [Int32] = []
    private let logger: Logger

    public var segmentCount: Int { segments.count }

    init(directory: String, segmentSize: UInt32, logger: Logger) throws(StorageError) {
        self.directory = directory
        self.segmentSize = segmentSize
        self.logger = logger
        try PosixFile.makeDirectory(directory)
        let first = try Self.openSegment(directory: directory, id: 1)
        self.current = first
        segments[1] = first
        newDirectoryEntries = true
    }

    private init(directory: String, segmentSize: UInt32, logger: Logger, segments: [UInt32: Segment], current: Segment)
    {
        self.directory = directory
        self.segmentSize = segmentSize
        self.logger = logger
        self.segments = segments
        self.current = current
    }

    private static func segmentPath(_ directory: String, _ id: UInt32) -> String {
        let digits = String(id)
        return directory + "/" + String(repeating: "0", count: max(0, 10 - digits.count)) + digits + ".seg"
    }

    private static func openSegment(directory: String, id: UInt32) throws(StorageError) -> Segment {
        let path = segmentPath(directory, id)
        let fd = try PosixFile.open(path, flags: O_RDWR | O_CREAT | O_APPEND)
        return Segment(id: id, fd: fd, path: path, size: 0, live: 0)
    }

    // MARK: Writing

    /// A drained current segment at least this large is replaced at once.
    static let drainedRolloverSize: UInt32 = 1024 * 1024

    /// Starts the next segment; the previous one is deleted if nothing in it is live.
    private func rollOver() throws(StorageError) {
        try flush()
        let previous = current
        let next = try Self.openSegment(directory: directory, id: current.id + 1)
        segments[next.id] = next
        current = next
        newDirectoryEntries = true
        // A segment drained while it was being written goes as soon as it is complete.
        if previous.live == 0 { deleteSegment(previous) }
    }

    /// Buffers a message's record; the bytes reach the file at the next `flush()`.
    func append(_ message: Message) throws(StorageError) -> StoreLocation {
        if current.size > 0 && current.size + UInt32(64 + message.bodySize) > segmentSize {
            try rollOver()
        }
        let length = MessageRecord.write(message, into: &pendingWrite)
        let location = StoreLocation(segment: current.id, offset: current.size, length: length)
        current.size += length
        current.live += 1
        unsynced.insert(current.id)
        return location
    }

    /// Records that a stored message is gone (acked, dropped, expired or purged).
    func remove(_ location: StoreLocation) {
        guard let segment = segments[location.segment] else { return }
        segment.live -= 1
        if segment.live == 0 && segment !== current {
            deleteSegment(segment)
            return
        }
        if segment.live == 0 && segment.size >= Self.drainedRolloverSize {
            // The queue drained: start a fresh segment so the space comes back now, not when
            // the current one would have filled.
            if (try? rollOver()) != nil { return }
        }
        if segment.pendingAcks == nil { segment.pendingAcks = ByteBuffer() }
        segment.pendingAcks!.writeInteger(location.offset)
    }

    /// Records that a stored message came back to its (quorum) queue once more.
    func recordReturn(_ location: StoreLocation) {
        guard let segment = segments[location.segment] else { return }
        if segment.pendingReturns == nil { segment.pendingReturns = ByteBuffer() }
        segment.pendingReturns!.writeInteger(location.offset)
    }

    private func deleteSegment(_ segment: Segment) {
        segments[segment.id] = nil
        unsynced.remove(segment.id)
        unlink(segment.path)
        unlink(segment.ackPath)
        unlink(segment.returnPath)
        fdsToClose.append(segment.fd)
        if segment.ackFD >= 0 { fdsToClose.append(segment.ackFD) }
        if segment.returnFD >= 0 { fdsToClose.append(segment.returnFD) }
    }

    /// Writes buffered records and acks to their files (no fsync).
    func flush() throws(StorageError) {
        if pendingWrite.readableBytes > 0 {
            try PosixFile.write(current.fd, pendingWrite, path: current.path)
            pendingWrite.clear()
        }
        for segment in segments.values {
            try Self.append(&segment.pendingAcks, to: &segment.ackFD, path: segment.ackPath)
            try Self.append(&segment.pendingReturns, to: &segment.returnFD, path: segment.returnPath)
        }
    }

    /// Appends a segment's pending offsets to its side file (opened on first use), if any.
    private static func append(_ pending: inout ByteBuffer?, to fd: inout Int32, path: String) throws(StorageError) {
        guard let bytes = pending else { return }
        pending = nil
        if fd < 0 { fd = try PosixFile.open(path, flags: O_WRONLY | O_CREAT | O_APPEND) }
        try PosixFile.write(fd, bytes, path: path)
    }

    /// The fds whose data the next sync must make durable, and the directory if files were
    /// created. Clears the list.
    func takeUnsynced() -> (fds: [Int32], directory: Bool) {
        let fds = unsynced.compactMap { segments[$0]?.fd }
        unsynced.removeAll(keepingCapacity: true)
        let dir = newDirectoryEntries
        newDirectoryEntries = false
        return (fds, dir)
    }

    // MARK: Reading

    func read(_ location: StoreLocation) throws(StorageError) -> Message {
        guard let segment = segments[location.segment] else {
            throw StorageError("segment \(location.segment) of \(directory) is gone")
        }
        if segment === current && location.offset + location.length > current.size - UInt32(pendingWrite.readableBytes)
        {
            try flush()
        }
        let record = try PosixFile.read(
            segment.fd, at: location.offset, length: Int(location.length), path: segment.path)
        guard let message = MessageRecord.decode(record) else {
            throw StorageError("damaged record at \(segment.path):\(location.offset)")
        }
        return message
    }

    // MARK: Lifecycle

    /// Closes files and removes the queue's directory (the queue was deleted).
    func destroy() {
        for segment in segments.values {
            fdsToClose.append(segment.fd)
            if segment.ackFD >= 0 { fdsToClose.append(segment.ackFD) }
            if segment.returnFD >= 0 { fdsToClose.append(segment.returnFD) }
        }
        segments.removeAll()
        unsynced.removeAll()
        PosixFile.removeTree(directory)
    }

    func closeRetiredFiles() {
        for fd in fdsToClose { close(fd) }
        fdsToClose.removeAll()
    }

    // MARK: Recovery

    struct Recovery {
        var store: QueueStore
        var messages: [StoreLocation]
        /// The body size of each message, in the same order.
        var bodySizes: [UInt32]
        /// How many times each message was returned to its queue, in the same order.
        var deliveryCounts: [UInt32] = []
        /// The priority property of each message, in the same order, when asked for (priority
        /// queues); else empty.
        var priorities: [UInt8] = []
    }

    /// Reads a queue's segments back: every valid, unacknowledged record in order. A torn tail
    /// is cut off; a damaged record inside a segment is skipped. Both are logged.
    static func recover(
        directory: String, segmentSize: UInt32, readPriorities: Bool = false, logger: Logger
    ) throws(StorageError) -> Recovery {
        let ids = PosixFile.list(directory).filter { $0.hasSuffix(".seg") }.compactMap {
            UInt32($0.dropLast(4))
        }.sorted()
        if ids.isEmpty {
            return Recovery(
                store: try QueueStore(directory: directory, segmentSize: segmentSize, logger: logger), messages: [],
                bodySizes: [])
        }
        var segments: [UInt32: Segment] = [:]
        var messages: [StoreLocation] = []
        var bodySizes: [UInt32] = []
        var deliveryCounts: [UInt32] = []
        var priorities: [UInt8] = []
        for id in ids {
            let path = segmentPath(directory, id)
            guard let mapping = try PosixFile.map(path) else { continue }
            defer { mapping.unmap() }
            var acked = Set<UInt32>()
            let ackPath = path.replacingSuffix(".seg", with: ".ack")
            var ackFileLength = 0
            if var acks = try PosixFile.readAll(ackPath) {
                ackFileLength = acks.readableBytes
                while let offset = acks.readInteger(as: UInt32.self) { acked.insert(offset) }
            }
            var returned: [UInt32: UInt32] = [:]
            let returnPath = path.replacingSuffix(".seg", with: ".ret")
            var returnFileLength = 0
            if var returns = try PosixFile.readAll(returnPath) {
                returnFileLength = returns.readableBytes
                while let offset = returns.readInteger(as: UInt32.self) { returned[offset, default: 0] += 1 }
            }
            var live = 0
            var validEnd = 0
            var skipped = 0
            do {
                let raw = mapping.bytes
                var offset = 0
                while offset < raw.count {
                    switch MessageRecord.scan(raw, at: offset) {
                    case .valid(let length):
                        if !acked.contains(UInt32(offset)) {
                            messages.append(StoreLocation(segment: id, offset: UInt32(offset), length: UInt32(length)))
                            bodySizes.append(MessageRecord.bodySize(raw, at: offset, length: length))
                            deliveryCounts.append(returned[UInt32(offset)] ?? 0)
                            if readPriorities { priorities.append(MessageRecord.priority(raw, at: offset)) }
                            live += 1
                        }
                        offset += length
                        validEnd = offset
                    case .incomplete, .corrupt:
                        // Find the next valid record; none means a torn tail.
                        var next = offset + 1
                        var found = false
                        while next + MessageRecord.headerSize <= raw.count {
                            if case .valid = MessageRecord.scan(raw, at: next) {
                                found = true
                                break
                            }
                            next += 1
                        }
                        if found {
                            skipped += next - offset
                            offset = next
                        } else {
                            offset = raw.count
                        }
                    }
                }
            }
            let size = mapping.bytes.count
            if skipped > 0 {
                logger.warning(
                    "skipped \(skipped) damaged bytes in \(path); every valid message around them was kept")
            }
            if validEnd < size {
                logger.warning("discarded a torn tail of \(size - validEnd) bytes at the end of \(path)")
                try PosixFile.truncate(path, to: validEnd)
            }
            // The ack file must name only records that exist, in whole 4-byte entries: a torn
            // entry or the ack of a cut record would misread or hide what is written next.
            // So must the return file.
            let stale = acked.filter { Int($0) >= validEnd }
            if !stale.isEmpty || ackFileLength % 4 != 0 {
                var rewritten = ByteBuffer()
                for offset in acked.subtracting(stale).sorted() { rewritten.writeInteger(offset) }
                try replaceFile(ackPath, with: rewritten)
            }
            if returned.keys.contains(where: { Int($0) >= validEnd }) || returnFileLength % 4 != 0 {
                var rewritten = ByteBuffer()
                for (offset, count) in returned.sorted(by: { $0.key < $1.key }) where Int(offset) < validEnd {
                    for _ in 0..<count { rewritten.writeInteger(offset) }
                }
                try replaceFile(returnPath, with: rewritten)
            }
            let fd = try PosixFile.open(path, flags: O_RDWR | O_APPEND)
            segments[id] = Segment(id: id, fd: fd, path: path, size: UInt32(validEnd), live: live)
        }
        let last = segments[ids.last!]!
        let store = QueueStore(
            directory: directory, segmentSize: segmentSize, logger: logger, segments: segments, current: last)
        // Segments with nothing left are removed now.
        for segment in segments.values where segment.live == 0 && segment !== last {
            store.deleteSegment(segment)
        }
        store.closeRetiredFiles()
        return Recovery(
            store: store, messages: messages, bodySizes: bodySizes, deliveryCounts: deliveryCounts,
            priorities: priorities)
    }

    /// Writes `contents` aside and renames it over `path`, so a crash here cannot lose what
    /// the file held.
    private static func replaceFile(_ path: String, with contents: ByteBuffer) throws(StorageError) {
        let temporary = path + ".tmp"
        let fd = try PosixFile.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
        defer { close(fd) }
        try PosixFile.write(fd, contents, path: temporary)
        PosixFile.syncData(fd)
        guard rename(temporary, path) == 0 else { throw StorageError("cannot rename", temporary) }
    }
}

extension String {
    func replacingSuffix(_ suffix: String, with replacement: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) + replacement : self
    }
}
