import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A stream's append-only log on disk: segment files named by the offset of their first
/// message, each a run of `StreamRecord`s. Messages are never removed one by one; whole
/// segments go, oldest first, when retention says so (never the segment being written).
///
/// Writes are buffered during a batch and written by `flush()` at its end; the vhost's
/// `MessageStore` syncs the files with everything else it writes (group commit). The records
/// appended in one batch form a chunk (one timestamp; "last" starts at the last chunk).
///
/// Each segment keeps a sparse index (a record at least every `indexInterval` bytes, always at
/// a chunk start) from offsets and timestamps to file positions, so readers behind the tail
/// find their place without scanning from the start. Owned by the vhost's event loop.
final class StreamLog {
    struct IndexEntry {
        var offset: UInt64
        var position: UInt32
        var timestamp: Int64
    }

    final class Segment {
        let firstOffset: UInt64
        let path: String
        let fd: Int32
        /// Bytes written, buffered ones included.
        var size: UInt32 = 0
        /// Bytes in the file (readable with pread).
        var flushedSize: UInt32 = 0
        /// One past the offset of its last message.
        var nextOffset: UInt64
        var firstTimestamp: Int64 = .max
        var lastTimestamp: Int64 = .min
        var index: [IndexEntry] = []
        var lastIndexed: UInt32 = 0
        /// Set when retention deleted the file: readers must not use its fd any more.
        var isDeleted = false

        init(firstOffset: UInt64, path: String, fd: Int32) {
            self.firstOffset = firstOffset
            self.path = path
            self.fd = fd
            self.nextOffset = firstOffset
        }

        var isEmpty: Bool { nextOffset == firstOffset }

        /// Records a position in the index if far enough from the previous entry.
        func noteRecord(offset: UInt64, position: UInt32, timestamp: Int64, chunkStart: Bool) {
            if index.isEmpty || (chunkStart && position - lastIndexed >= StreamLog.indexInterval) {
                index.append(IndexEntry(offset: offset, position: position, timestamp: timestamp))
                lastIndexed = position
            }
            firstTimestamp = min(firstTimestamp, timestamp)
            lastTimestamp = max(lastTimestamp, timestamp)
            nextOffset = offset + 1
        }
    }

    static let indexInterval: UInt32 = 64 * 1024
    static let readAhead = 128 * 1024

    let directory: String
    private let logger: Logger
    /// Oldest first; the last is the one being written.
    private(set) var segments: [Segment]
    private var pendingWrite = ByteBuffer()
    /// The offset the next message gets.
    private(set) var nextOffset: UInt64
    /// The first offset of the last chunk written ("last").
    private(set) var lastChunkStart: UInt64
    private var chunkOpen = false
    /// The timestamp of the chunk being written (or last written).
    private(set) var chunkTimestamp: Int64 = 0
    /// Total bytes of the segment files.
    private(set) var totalBytes: Int = 0
    /// One past the last offset in the files (what is older is readable from disk).
    private(set) var flushedNextOffset: UInt64

    var maxSegmentSize: Int
    var retention = StreamRetention()

    private var unsynced: Set<ObjectIdentifier> = []
    private var unsyncedFDs: [Int32] = []
    private var newDirectoryEntries = false
    /// fds of deleted segments, closed by the store once no sync can be using them.
    var fdsToClose: [Int32] = []

    var firstOffset: UInt64 { segments.first?.firstOffset ?? nextOffset }
    var messageCount: Int { Int(nextOffset - firstOffset) }
    var current: Segment { segments[segments.count - 1] }

    private init(directory: String, maxSegmentSize: Int, logger: Logger, segments: [Segment], nextOffset: UInt64) {
        self.directory = directory
        self.maxSegmentSize = maxSegmentSize
        self.logger = logger
        self.segments = segments
        self.nextOffset = nextOffset
        self.flushedNextOffset = nextOffset
        self.lastChunkStart = nextOffset
    }

    /// A new, empty stream in `directory` (created).
    static func create(directory: String, maxSegmentSize: Int, logger: Logger) throws(StorageError) -> StreamLog {
        try PosixFile.makeDirectory(directory)
        let first = try openSegment(directory: directory, firstOffset: 0)
        let log = StreamLog(
            directory: directory, maxSegmentSize: maxSegmentSize, logger: logger, segments: [first], nextOffset: 0)
        log.newDirectoryEntries = true
        return log
    }

    static func segmentPath(_ directory: String, _ firstOffset: UInt64) -> String {
        let digits = String(firstOffset)
        return directory + "/" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".seg"
    }

    private static func openSegment(directory: String, firstOffset: UInt64) throws(StorageError) -> Segment {
        let path = segmentPath(directory, firstOffset)
        let fd = try PosixFile.open(path, flags: O_RDWR | O_CREAT | O_APPEND)
        return Segment(firstOffset: firstOffset, path: path, fd: fd)
    }

    // MARK: Writing

    /// Buffers a message (its properties already carry its offset); returns the offset.
    @discardableResult
    func append(_ message: Message, now: Int64) throws(StorageError) -> UInt64 {
        let estimate = 64 + message.bodySize + message.properties.bytes.readableBytes
        if !current.isEmpty && Int(current.size) + estimate > maxSegmentSize {
            try rollOver(now: now)
        }
        let offset = nextOffset
        var flags: UInt8 = 0
        if !chunkOpen {
            chunkOpen = true
            chunkTimestamp = now
            lastChunkStart = offset
            flags = StreamRecord.chunkStart
        }
        let segment = current
        let position = segment.size
        let length = StreamRecord.write(
            message, offset: offset, timestamp: chunkTimestamp, flags: flags, into: &pendingWrite)
        segment.size += UInt32(length)
        totalBytes += length
        segment.noteRecord(offset: offset, position: position, timestamp: chunkTimestamp, chunkStart: flags != 0)
        nextOffset = offset + 1
        unsynced.insert(ObjectIdentifier(segment))
        return offset
    }

    /// Closes the current segment and starts the next; retention is evaluated then.
    private func rollOver(now: Int64) throws(StorageError) {
        try flush()
        let next = try Self.openSegment(directory: directory, firstOffset: nextOffset)
        segments.append(next)
        newDirectoryEntries = true
        chunkOpen = false  // a chunk never spans segments
        applyRetention(now: now)
    }

    /// Writes what was buffered (no fsync); ends the current chunk.
    func flush() throws(StorageError) {
        chunkOpen = false
        guard pendingWrite.readableBytes > 0 else { return }
        let segment = current
        try PosixFile.write(segment.fd, pendingWrite, path: segment.path)
        pendingWrite.clear()
        segment.flushedSize = segment.size
        flushedNextOffset = nextOffset
    }

    /// The fds the next sync must make durable, and whether the directory changed.
    func takeUnsynced() -> (fds: [Int32], directory: Bool) {
        var fds: [Int32] = []
        for segment in segments where unsynced.contains(ObjectIdentifier(segment)) { fds.append(segment.fd) }
        unsynced.removeAll(keepingCapacity: true)
        let dir = newDirectoryEntries
        newDirectoryEntries = false
        return (fds, dir)
    }

    // MARK: Retention

    /// Deletes whole segments, oldest first, while the stream is over its size limit or a
    /// segment's newest message is older than the age limit. The segment being written stays.
    /// Returns how many segments went.
    @discardableResult
    func applyRetention(now: Int64) -> Int {
        var removed = 0
        while segments.count > 1 {
            let oldest = segments[0]
            let overSize = retention.maxBytes.map { totalBytes > $0 } ?? false
            let tooOld = retention.maxAge.map { oldest.lastTimestamp < now - Int64($0) } ?? false
            guard overSize || tooOld else { break }
            segments.removeFirst()
            totalBytes -= Int(oldest.size)
            oldest.isDeleted = true
            unsynced.remove(ObjectIdentifier(oldest))
            unlink(oldest.path)
            fdsToClose.append(oldest.fd)
            newDirectoryEntries = true
            removed += 1
        }
        if removed > 0 {
            logger.debug("stream \(directory): retention removed \(removed) segments, first offset now \(firstOffset)")
        }
        return removed
    }

    /// When (epoch milliseconds) the oldest closed segment becomes too old; nil if never.
    var nextAgeDeadline: Int64? {
        guard let maxAge = retention.maxAge, segments.count > 1 else { return nil }
        return segments[0].lastTimestamp + Int64(maxAge)
    }

    /// Closes the files and removes the stream's directory (the queue was deleted).
    func destroy() {
        for segment in segments {
            segment.isDeleted = true
            fdsToClose.append(segment.fd)
        }
        segments.removeAll()
        unsynced.removeAll()
        pendingWrite.clear()
        PosixFile.removeTree(directory)
    }

    // MARK: Reading

    /// A reader's place in the files: the next record's segment and position, and a read-ahead
    /// buffer. Valid only while `offset` is the offset the caller wants next.
    struct Position {
        var segment: Segment?
        var position: UInt32 = 0
        var offset: UInt64 = .max
        var buffer = ByteBuffer()
        var bufferStart: UInt32 = 0
    }

    private func segmentIndex(containing offset: UInt64) -> Int? {
        var lo = 0
        var hi = segments.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if segments[mid].firstOffset <= offset { lo = mid + 1 } else { hi = mid }
        }
        return lo == 0 ? nil : lo - 1
    }

    /// Places `p` at or just before `offset` (at an index entry; reading skips to it).
    private func seek(_ p: inout Position, to offset: UInt64) {
        guard let i = segmentIndex(containing: offset) else {
            p.segment = segments.first
            p.position = 0
            p.offset = firstOffset
            p.buffer.clear()
            return
        }
        let segment = segments[i]
        var entry = IndexEntry(offset: segment.firstOffset, position: 0, timestamp: 0)
        var lo = 0
        var hi = segment.index.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if segment.index[mid].offset <= offset { lo = mid + 1 } else { hi = mid }
        }
        if lo > 0 { entry = segment.index[lo - 1] }
        p.segment = segment
        p.position = entry.position
        p.offset = offset
        p.buffer.clear()
    }

    /// The message at `offset` (or the first one after it that still exists) from the files,
    /// with its offset and timestamp; nil when `offset` is not flushed yet. A record that
    /// cannot be read ends its segment for this reader (logged).
    func read(at offset: UInt64, _ p: inout Position) -> (offset: UInt64, timestamp: Int64, message: Message)? {
        var wanted = max(offset, firstOffset)
        guard wanted < flushedNextOffset else { return nil }
        if p.offset != wanted || p.segment == nil || p.segment!.isDeleted {
            seek(&p, to: wanted)
        }
        while let segment = p.segment {
            if segment.isDeleted {
                seek(&p, to: max(wanted, firstOffset))
                wanted = p.offset
                continue
            }
            if p.position >= segment.flushedSize {
                // The end of this segment: go on in the next, if there is one.
                guard let i = segments.firstIndex(where: { $0 === segment }), i + 1 < segments.count else {
                    return nil
                }
                p.segment = segments[i + 1]
                p.position = 0
                p.buffer.clear()
                continue
            }
            guard let record = nextRecord(&p, segment) else {
                logger.error(
                    "stream \(directory): unreadable record at \(segment.path):\(p.position); skipping to the next segment"
                )
                p.position = segment.flushedSize
                continue
            }
            p.position += UInt32(record.header.length)
            if record.header.offset < wanted { continue }
            guard let message = StreamRecord.message(record.bytes) else { continue }
            p.offset = record.header.offset + 1
            return (record.header.offset, record.header.timestamp, message)
        }
        return nil
    }

    /// The record at `p.position`, read through the read-ahead buffer.
    private func nextRecord(
        _ p: inout Position, _ segment: Segment
    ) -> (header: StreamRecord.Header, bytes: ByteBuffer)? {
        var needed = StreamRecord.headerSize
        for attempt in 0..<3 {
            let inBuffer = Int(p.position) - Int(p.bufferStart)
            if inBuffer >= 0 && inBuffer < p.buffer.readableBytes {
                let scan = p.buffer.withUnsafeReadableBytes { all in
                    StreamRecord.scan(UnsafeRawBufferPointer(rebasing: all[inBuffer...]))
                }
                switch scan {
                case .valid(let header):
                    let bytes = p.buffer.getSlice(at: p.buffer.readerIndex + inBuffer, length: header.length)!
                    return (header, bytes)
                case .corrupt:
                    return nil
                case .incomplete(let more):
                    needed = more
                }
            }
            guard attempt < 2 else { break }
            // Refill from the file at the record's position: the whole record, at least the
            // read-ahead.
            let length = min(max(needed, Self.readAhead), Int(segment.flushedSize - p.position))
            guard length >= needed,
                let bytes = try? PosixFile.read(segment.fd, at: p.position, length: length, path: segment.path)
            else { return nil }
            p.buffer = bytes
            p.bufferStart = p.position
        }
        return nil
    }

    /// The first offset whose chunk was written at or after `timestamp` (epoch ms) among the
    /// flushed records; nil when none is.
    func firstOffset(atOrAfter timestamp: Int64) -> UInt64? {
        guard let i = segments.firstIndex(where: { !$0.isEmpty && $0.lastTimestamp >= timestamp }) else { return nil }
        let segment = segments[i]
        if segment.firstTimestamp >= timestamp { return segment.firstOffset }
        let start = segment.index.last(where: { $0.timestamp < timestamp }) ?? segment.index.first!
        var p = Position()
        var offset = start.offset
        p.segment = segment
        p.position = start.position
        p.offset = offset
        while let record = read(at: offset, &p) {
            if record.timestamp >= timestamp { return record.offset }
            offset = record.offset + 1
        }
        return nil
    }

    // MARK: Recovery

    /// Reads a stream's segments back: every valid record indexed, a torn tail cut, damaged
    /// records skipped (logged). An empty directory gives an empty stream.
    static func recover(directory: String, maxSegmentSize: Int, logger: Logger) throws(StorageError) -> StreamLog {
        let firsts = PosixFile.list(directory).filter { $0.hasSuffix(".seg") }.compactMap {
            UInt64($0.dropLast(4))
        }.sorted()
        if firsts.isEmpty { return try create(directory: directory, maxSegmentSize: maxSegmentSize, logger: logger) }
        var segments: [Segment] = []
        var lastChunkStart: UInt64 = firsts[0]
        var total = 0
        for first in firsts {
            let path = segmentPath(directory, first)
            guard let mapping = try PosixFile.map(path) else { continue }
            defer { mapping.unmap() }
            let segment = Segment(
                firstOffset: first, path: path, fd: try PosixFile.open(path, flags: O_RDWR | O_APPEND))
            let raw = mapping.bytes
            var position = 0
            var validEnd = 0
            var skipped = 0
            while position < raw.count {
                switch StreamRecord.scan(UnsafeRawBufferPointer(rebasing: raw[position...])) {
                case .valid(let header) where header.offset >= segment.nextOffset:
                    let chunkStart = header.flags & StreamRecord.chunkStart != 0
                    if chunkStart { lastChunkStart = header.offset }
                    segment.noteRecord(
                        offset: header.offset, position: UInt32(position), timestamp: header.timestamp,
                        chunkStart: chunkStart)
                    position += header.length
                    validEnd = position
                case .valid(let header):
                    // An offset going backwards is not this stream's: skip it.
                    skipped += header.length
                    position += header.length
                case .incomplete, .corrupt:
                    var next = position + 1
                    var found = false
                    while next + StreamRecord.headerSize <= raw.count {
                        if case .valid = StreamRecord.scan(UnsafeRawBufferPointer(rebasing: raw[next...])) {
                            found = true
                            break
                        }
                        next += 1
                    }
                    if found {
                        skipped += next - position
                        position = next
                    } else {
                        position = raw.count
                    }
                }
            }
            if skipped > 0 { logger.warning("skipped \(skipped) damaged bytes in \(path)") }
            if validEnd < raw.count {
                logger.warning("discarded a torn tail of \(raw.count - validEnd) bytes at the end of \(path)")
                try PosixFile.truncate(path, to: validEnd)
            }
            segment.size = UInt32(validEnd)
            segment.flushedSize = segment.size
            total += validEnd
            segments.append(segment)
        }
        let next = segments.last!.nextOffset
        let log = StreamLog(
            directory: directory, maxSegmentSize: maxSegmentSize, logger: logger, segments: segments, nextOffset: next)
        log.lastChunkStart = min(lastChunkStart, next)
        log.totalBytes = total
        return log
    }
}

/// How much of a stream is kept: by total size and by age (both approximate: whole segments
/// go, and only closed ones).
struct StreamRetention: Equatable {
    var maxBytes: Int?
    /// Milliseconds.
    var maxAge: UInt64?
}
