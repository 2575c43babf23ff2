import AMQPProtocol
import Foundation
import Logging
import NIOCore
import Testing

@testable import WarrenCore

/// Recovery of a durable queue's segment and ack files and of the topology log, including
/// damaged files (a torn tail, a corrupt record, a partial ack, a torn log line), and group
/// commit. Each test works in a directory of its own.
@Suite struct StorageRecoveryTests {
    // MARK: Recovery of segments

    @Test func recoversUnackedRecordsInOrder() throws {
        let dir = scratchDirectory()
        defer { removeScratch(dir) }
        let store = try QueueStore(directory: dir, segmentSize: 1 << 20, logger: quietLogger)
        let locations = try (1...10).map { try store.append(storedMessage($0)) }
        for i in [0, 4, 9] { store.remove(locations[i]) }
        try store.flush()

        let recovery = try QueueStore.recover(directory: dir, segmentSize: 1 << 20, logger: quietLogger)
        #expect(try numbers(recovery) == [2, 3, 4, 6, 7, 8, 9])
        #expect(recovery.store.segmentCount == 1)
    }

    @Test func tornTailIsCutLoggedAndWrittenOver() throws {
        let dir = scratchDirectory()
        defer { removeScratch(dir) }
        let store = try QueueStore(directory: dir, segmentSize: 1 << 20, logger: quietLogger)
        for n in 1...5 { _ = try store.append(storedMessage(n)) }
        try store.flush()
        let segment = dir + "/0000000001.seg"
        let intact = try fileSize(segment)
        let firstRecord = try Data(contentsOf: URL(fileURLWithPath: segment)).prefix(20)
        try appendBytes(firstRecord, to: segment)  // half a record, as a crash mid-write leaves

        let log = CapturedLog()
        let recovery = try QueueStore.recover(directory: dir, segmentSize: 1 << 20, logger: log.logger)
        #expect(try numbers(recovery) == [1, 2, 3, 4, 5])
        #expect(log.lines.contains { $0.contains("torn tail of 20 bytes") })
        #expect(try fileSize(segment) == intact)

        let sixth = try recovery.store.append(storedMessage(6))
        #expect(sixth.offset == UInt32(intact))
        try recovery.store.flush()
        let again = CapturedLog()
        let second = try QueueStore.recover(directory: dir, segmentSize: 1 << 20, logger: again.logger)
        #expect(try numbers(second) == [1, 2, 3, 4, 5, 6])
        #expect(again.lines.isEmpty)
    }

    @Test func corruptRecordInsideASegmentIsSkipped() throws {
        let dir = scratchDirectory()
        defer { removeScratch(dir) }
        let store = try QueueStore(directory: dir, segmentSize: 1 << 20, logger: quietLogger)
        let locations = try (1...10).map { try store.append(storedMessage($0, size: 200)) }
        try store.flush()
        let third = locations[2]
        try overwrite(
            dir + "/0000000001.seg", at: Int(third.offset + third.length) - 100, with: [0xDE, 0xAD, 0xBE, 0xEF])

        let log = CapturedLog()
        let recovery = try QueueStore.recover(directory: dir, segmentSize: 1 << 20, logger: log.logger)
        #expect(try numbers(recovery) == [1, 2, 4, 5, 6, 7, 8, 9, 10])
        #expect(log.lines.contains { $0.contains("skipped \(third.length) damaged bytes") })
        // The damaged bytes stay (offsets after them must not move); new records go after the end.
        let next = try recovery.store.append(storedMessage(11))
        #expect(next.offset == locations[9].offset + locations[9].length)
    }

    @Test func fullyAckedSegmentsAreDeletedAndTheRestRecovered() throws {
        let dir = scratchDirectory()
        defer { removeScratch(dir) }
        let store = try QueueStore(directory: dir, segmentSize: 1000, logger: quietLogger)
        let locations = try (1...12).map { try store.append(storedMessage($0, size: 200)) }
        try store.flush()
        let segments = Set(locations.map(\.segment))
        #expect(segments.count == 3)
        // Ack everything in the first segment: it goes at once (it is not the current one).
        for location in locations where location.segment == 1 { store.remove(location) }
        try store.flush()
        #expect(!FileManager.default.fileExists(atPath: dir + "/0000000001.seg"))
        #expect(store.segmentCount == 2)

        let recovery = try QueueStore.recover(directory: dir, segmentSize: 1000, logger: quietLogger)
        #expect(try numbers(recovery) == Array(5...12))
    }

    // MARK: Bugs found by the durability tests

    /// Every record of segment 1 is acked while it is still the current segment, then the next
    /// append opens segment 2: nothing calls `remove` for segment 1 again, so it is never deleted
    /// (QueueStore.append rolls over without checking `live == 0` of the segment it leaves).
    @Test func drainedSegmentIsDeletedWhenItStopsBeingCurrent() throws {
        let dir = scratchDirectory()
        defer { removeScratch(dir) }
        let store = try QueueStore(directory: dir, segmentSize: 1000, logger: quietLogger)
        let first = try (1...4).map { try store.append(storedMessage($0, size: 200)) }
        #expect(Set(first.map(\.segment)) == [1])
        try store.flush()
        for location in first { store.remove(location) }
        try store.flush()
        let fifth = try store.append(storedMessage(5, size: 200))
        try store.flush()
        #expect(fifth.segment == 2)
        #expect(store.segmentCount == 1)
        #expect(!FileManager.default.fileExists(atPath: dir + "/0000000001.seg"))
    }

    /// A crash can leave a partial offset at the end of an .ack file. Recovery ignores it but
    /// leaves it there, and acks appended after the restart are then read back misaligned.
    @Test func partialAckAtTheEndOfAnAckFileDoesNotMisalignLaterAcks() throws {
        let dir = scratchDirectory()
        defer { removeScratch(dir) }
        let store = try QueueStore(directory: dir, segmentSize: 1 << 20, logger: quietLogger)
        let locations = try (0..<10).map { try store.append(storedMessage($0)) }
        try store.flush()
        for i in 0..<3 { store.remove(locations[i]) }
        try store.flush()
        try appendBytes(Data([0, 0]), to: dir + "/0000000001.ack")

        let recovery = try QueueStore.recover(directory: dir, segmentSize: 1 << 20, logger: quietLogger)
        #expect(try numbers(recovery) == Array(3..<10))
        for location in recovery.messages.prefix(3) { recovery.store.remove(location) }
        try recovery.store.flush()

        let second = try QueueStore.recover(directory: dir, segmentSize: 1 << 20, logger: quietLogger)
        #expect(try numbers(second) == Array(6..<10))
    }

    /// The ack of a record in the torn tail stays in the .ack file after the tail is cut; the
    /// next record written at that offset is then taken for acked at the following recovery.
    @Test func ackOfACutTailDoesNotHideTheRecordWrittenThereNext() throws {
        let dir = scratchDirectory()
        defer { removeScratch(dir) }
        let store = try QueueStore(directory: dir, segmentSize: 1 << 20, logger: quietLogger)
        let locations = try (1...10).map { try store.append(storedMessage($0)) }
        try store.flush()
        store.remove(locations[9])
        try store.flush()
        let segment = dir + "/0000000001.seg"
        try truncateFile(segment, to: Int(locations[9].offset) + 10)

        let recovery = try QueueStore.recover(directory: dir, segmentSize: 1 << 20, logger: quietLogger)
        #expect(try numbers(recovery) == Array(1...9))
        let eleventh = try recovery.store.append(storedMessage(11))
        #expect(eleventh.offset == locations[9].offset)
        try recovery.store.flush()

        let second = try QueueStore.recover(directory: dir, segmentSize: 1 << 20, logger: quietLogger)
        #expect(try numbers(second) == Array(1...9) + [11])
    }

    // MARK: Topology log

    @Test func topologyLogIsCompactedAndReplayed() throws {
        let dir = scratchDirectory()
        defer { removeScratch(dir) }
        do {
            let store = try MessageStore(directory: dir, logger: quietLogger, syncer: MessageStore.inlineSyncer)
            store.record(TopologyRecord(op: .declareQueue, name: "a"))
            store.record(TopologyRecord(op: .declareQueue, name: "b"))
            store.record(TopologyRecord(op: .deleteQueue, name: "a"))
            store.endOfBatch()
        }
        let reopened = try MessageStore(directory: dir, logger: quietLogger, syncer: MessageStore.inlineSyncer)
        #expect(reopened.recoveredTopology.map(\.name) == ["b"])
        let lines = try String(contentsOfFile: dir + "/metadata.log", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1)
    }

    /// "A torn last line is ignored" (MetadataLog.read), but when nothing else is compacted
    /// away the torn bytes stay, and the next record is appended to the same line.
    @Test func tornLastLineOfTheTopologyLogDoesNotSwallowTheNextRecord() throws {
        let dir = scratchDirectory()
        defer { removeScratch(dir) }
        do {
            let store = try MessageStore(directory: dir, logger: quietLogger, syncer: MessageStore.inlineSyncer)
            store.record(TopologyRecord(op: .declareQueue, name: "a"))
            store.endOfBatch()
        }
        try appendBytes(Data(#"{"name":"torn","op":"declare_qu"#.utf8), to: dir + "/metadata.log")
        do {
            let store = try MessageStore(directory: dir, logger: quietLogger, syncer: MessageStore.inlineSyncer)
            #expect(store.recoveredTopology.map(\.name) == ["a"])
            store.record(TopologyRecord(op: .declareQueue, name: "b"))
            store.endOfBatch()
        }
        let reopened = try MessageStore(directory: dir, logger: quietLogger, syncer: MessageStore.inlineSyncer)
        #expect(reopened.recoveredTopology.map(\.name) == ["a", "b"])
    }

    // MARK: Group commit

    /// Confirms wait for `syncedThrough` to reach their batch: it must advance only when a
    /// sync that started after the write has completed, and every earlier sync too (however
    /// many syncs the store lets run at once).
    @Test func metadataLogIsSyncedOnlyAfterItWasWritten() throws {
        let dir = scratchDirectory()
        defer { removeScratch(dir) }
        let syncs = PendingSyncs()
        let store = try MessageStore(directory: dir, logger: quietLogger, syncer: syncs.syncer)
        let queue = try store.createQueueStore(named: "q")
        store.record(TopologyRecord(op: .declareQueue, name: "q"))
        _ = try store.append(storedMessage(1), to: queue)
        store.endOfBatch()
        #expect(syncs.fds[0].count == 2)  // the metadata log and the segment
        syncs.complete(0)
        _ = try store.append(storedMessage(2), to: queue)
        store.endOfBatch()
        #expect(syncs.fds[1].count == 1)  // the segment alone: the log is clean
    }

    @Test func groupCommitReleasesABatchOnlyAfterItsSyncAndEveryEarlierOne() throws {
        let dir = scratchDirectory()
        defer { removeScratch(dir) }
        let syncs = PendingSyncs()
        let store = try MessageStore(directory: dir, logger: quietLogger, syncer: syncs.syncer)
        let queue = try store.createQueueStore(named: "q")
        var released: [UInt64] = []
        store.onSynced = { released.append($0) }

        _ = try store.append(storedMessage(1), to: queue)
        let firstBatch = store.currentBatch
        store.endOfBatch()
        #expect(syncs.count == 1)
        #expect(syncs.fds[0].count == 1)  // the segment (the metadata log was not written)
        #expect(store.syncedThrough < firstBatch)
        #expect(store.hasUnsyncedWrites)

        // Written while the first sync runs: a later batch.
        _ = try store.append(storedMessage(2), to: queue)
        let secondBatch = store.currentBatch
        #expect(secondBatch > firstBatch)
        store.endOfBatch()
        #expect(store.syncedThrough < firstBatch)

        if syncs.count == 2 {
            // Two syncs at once: the second finishing first releases nothing.
            syncs.complete(1)
            #expect(store.syncedThrough < firstBatch)
            #expect(released.isEmpty)
            syncs.complete(0)
        } else {
            // One sync at a time: the second starts when the first completes.
            #expect(syncs.count == 1)
            syncs.complete(0)
            #expect(store.syncedThrough >= firstBatch && store.syncedThrough < secondBatch)
            #expect(syncs.count == 2)
            syncs.complete(1)
        }
        #expect(store.syncedThrough >= secondBatch)
        #expect(released.last.map { $0 >= secondBatch } == true)
        #expect(released == released.sorted())
        #expect(!store.hasUnsyncedWrites)

        let recovery = try QueueStore.recover(
            directory: store.queueDirectory("q"), segmentSize: 1 << 20, logger: quietLogger)
        #expect(try numbers(recovery) == [1, 2])
    }
}

// MARK: - Support

private let quietLogger: Logger = {
    var logger = Logger(label: "storage-test")
    logger.logLevel = .critical
    return logger
}()

private func scratchDirectory() -> String {
    let path = NSTemporaryDirectory() + "warren-storage-test-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

private func removeScratch(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

private func storedMessage(_ n: Int, size: Int = 40) -> Message {
    var body = ByteBuffer(string: String(format: "%08d", n))
    body.writeRepeatingByte(UInt8(ascii: "."), count: max(0, size - 8))
    return Message(
        exchange: "", routingKey: "q", properties: RawProperties(BasicProperties(deliveryMode: 2)), body: body)
}

private func numbers(_ recovery: QueueStore.Recovery) throws -> [Int] {
    var out: [Int] = []
    for location in recovery.messages {
        let message = try recovery.store.read(location)
        out.append(Int(message.body.getString(at: message.body.readerIndex, length: 8) ?? "") ?? -1)
    }
    return out
}

private func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
}

private func appendBytes(_ data: Data, to path: String) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seekToEnd()
    try handle.write(contentsOf: data)
}

private func overwrite(_ path: String, at offset: Int, with bytes: [UInt8]) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: Data(bytes))
}

private func truncateFile(_ path: String, to length: Int) throws {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.truncate(atOffset: UInt64(length))
}

/// Log lines, captured.
private final class CapturedLog: @unchecked Sendable {
    private let lock = NSLock()
    private var captured: [String] = []

    var lines: [String] { lock.withLock { captured } }

    func append(_ line: String) { lock.withLock { captured.append(line) } }

    var logger: Logger { Logger(label: "storage-test") { _ in CapturingHandler(log: self) } }
}

private struct CapturingHandler: LogHandler {
    let log: CapturedLog
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        log.append("\(event.level): \(event.message)")
    }
}

/// A syncer that holds each sync until the test completes it (fdatasync is done then).
private final class PendingSyncs: @unchecked Sendable {
    private(set) var fds: [[Int32]] = []
    private var completions: [@Sendable () -> Void] = []

    var count: Int { completions.count }

    var syncer: MessageStore.Syncer {
        { [self] fds, _, completion in
            self.fds.append(fds)
            completions.append(completion)
        }
    }

    func complete(_ index: Int) {
        for fd in fds[index] { fdatasync(fd) }
        completions[index]()
    }
}
