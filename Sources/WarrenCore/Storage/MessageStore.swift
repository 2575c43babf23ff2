import Logging
import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A vhost's persistent storage: a `QueueStore` per durable queue and the topology log, with
/// group commit.
///
/// During a batch, records are only buffered. At the end of the batch they are written (one
/// `write` per file) and, unless `maxSyncsInFlight` syncs are already running, a sync starts
/// on the sync threads for everything written since the previous one. Writes made while the
/// syncs run wait for the next, so however many messages arrive, a sync covers many of them.
/// Every write is tagged with the batch number it belongs to; confirms and commit-oks wait
/// until `syncedThrough` reaches it, which advances only over syncs completed in order.
/// Owned by the vhost's event loop.
public final class MessageStore: @unchecked Sendable {
    /// Runs `fdatasync` on the fds and `fsync` on the directories off the event loop, then
    /// calls the completion back on the vhost's loop.
    public typealias Syncer =
        @Sendable (_ fds: [Int32], _ directories: [String], _ completion: @escaping @Sendable () -> Void) -> Void

    public let directory: String
    let logger: Logger
    let segmentSize: UInt32
    /// Bytes of persisted message bodies a queue keeps in memory; beyond that they are read
    /// back from disk when delivered.
    public var queueMemoryLimit = 32 * 1024 * 1024
    private var queueStores: [String: QueueStore] = [:]
    private var dirty: [ObjectIdentifier: QueueStore] = [:]
    /// Streams' logs, by queue name, and those written to in this batch.
    private var streamLogs: [String: StreamLog] = [:]
    private var dirtyStreams: [ObjectIdentifier: StreamLog] = [:]
    let metadata: MetadataLog
    /// The durable topology found at start-up, compacted (already written back as the log).
    let recoveredTopology: [TopologyRecord]
    private let syncer: Syncer

    /// The batch new writes belong to; a sync covers every batch up to the one it started in.
    public private(set) var currentBatch: UInt64 = 1
    public private(set) var syncedThrough: UInt64 = 0
    /// Syncs started and not yet completed, by the batch they cover up to.
    private var syncsInFlight: Set<UInt64> = []
    /// Completed syncs waiting for an earlier one to complete.
    private var completedOutOfOrder: Set<UInt64> = []
    public var maxSyncsInFlight = 2
    private var writesSinceSync = false
    private var directoriesToSync: Set<String> = []
    private var retiredFDs: [Int32] = []
    /// Set after a write failed (a full disk): writes are retried at each batch end and no
    /// confirm is released until they succeed.
    public private(set) var lastWriteError: StorageError?
    var onSynced: ((UInt64) -> Void)?
    /// Stored records to remove once the batch a later write was made in is synced (the source
    /// copy of a dead-lettered message goes only when its new copy is durable).
    private var removalsAwaitingSync: [(batch: UInt64, location: StoreLocation, store: QueueStore)] = []

    public init(
        directory: String, segmentSize: UInt32 = 32 * 1024 * 1024, logger: Logger, syncer: @escaping Syncer
    )
        throws(StorageError)
    {
        self.directory = directory
        self.segmentSize = segmentSize
        self.logger = logger
        self.syncer = syncer
        try PosixFile.makeDirectory(directory + "/queues")
        let logPath = directory + "/metadata.log"
        let records = try MetadataLog.read(path: logPath, logger: logger)
        recoveredTopology = TopologyReplay.compact(records)
        // Rewrite when compaction shrinks the log, and when its last line is torn (the next
        // append would otherwise join it).
        let torn = try MetadataLog.endsTorn(path: logPath)
        if records.count != recoveredTopology.count || torn {
            try MetadataLog.writeSnapshot(recoveredTopology, path: logPath)
        }
        metadata = try MetadataLog(path: logPath)
    }

    /// A synchronous syncer, for tests and tools.
    public static let inlineSyncer: Syncer = { fds, directories, completion in
        for fd in fds { PosixFile.syncData(fd) }
        for dir in directories {
            if let fd = try? PosixFile.open(dir, flags: O_RDONLY) {
                fsync(fd)
                close(fd)
            }
        }
        completion()
    }

    public static func directoryName(forVhost name: String) -> String { directoryName(forQueue: name) }

    static func directoryName(forQueue name: String) -> String {
        // FNV-1a: a stable, filesystem-safe name; the real name lives in the metadata log.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    func queueDirectory(_ name: String) -> String {
        directory + "/queues/" + Self.directoryName(forQueue: name)
    }

    // MARK: Queues

    func createQueueStore(named name: String) throws(StorageError) -> QueueStore {
        let dir = queueDirectory(name)
        PosixFile.removeTree(dir)  // leftovers of an earlier queue of that name
        let store = try QueueStore(directory: dir, segmentSize: segmentSize, logger: logger)
        queueStores[name] = store
        directoriesToSync.insert(directory + "/queues")
        directoriesToSync.insert(dir)
        return store
    }

    func recoverQueueStore(
        named name: String, readPriorities: Bool = false
    ) throws(StorageError)
        -> QueueStore.Recovery
    {
        let recovery = try QueueStore.recover(
            directory: queueDirectory(name), segmentSize: segmentSize, readPriorities: readPriorities, logger: logger)
        queueStores[name] = recovery.store
        return recovery
    }

    func destroyQueueStore(_ store: QueueStore, named name: String) {
        dirty[ObjectIdentifier(store)] = nil
        if !removalsAwaitingSync.isEmpty { removalsAwaitingSync.removeAll { $0.store === store } }
        store.destroy()
        retiredFDs.append(contentsOf: store.fdsToClose)
        store.fdsToClose.removeAll()
        if queueStores[name] === store { queueStores[name] = nil }
    }

    // MARK: Streams

    func createStreamLog(named name: String, maxSegmentSize: Int) throws(StorageError) -> StreamLog {
        let dir = queueDirectory(name)
        PosixFile.removeTree(dir)
        let log = try StreamLog.create(directory: dir, maxSegmentSize: maxSegmentSize, logger: logger)
        streamLogs[name] = log
        directoriesToSync.insert(directory + "/queues")
        directoriesToSync.insert(dir)
        return log
    }

    func recoverStreamLog(named name: String, maxSegmentSize: Int) throws(StorageError) -> StreamLog {
        let log = try StreamLog.recover(directory: queueDirectory(name), maxSegmentSize: maxSegmentSize, logger: logger)
        streamLogs[name] = log
        return log
    }

    /// The stream was appended to (or lost segments): its writes go out at the end of the batch.
    func streamWritten(_ log: StreamLog, appended: Bool = true) {
        dirtyStreams[ObjectIdentifier(log)] = log
        if appended { writesSinceSync = true }
    }

    func destroyStreamLog(_ log: StreamLog, named name: String) {
        dirtyStreams[ObjectIdentifier(log)] = nil
        log.destroy()
        retiredFDs.append(contentsOf: log.fdsToClose)
        log.fdsToClose.removeAll()
        if streamLogs[name] === log { streamLogs[name] = nil }
    }

    /// Removes queue directories that no durable queue owns (deleted while the broker was down
    /// mid-way, or never recorded).
    func removeOrphanedQueueDirectories(keeping names: Set<String>) {
        let kept = Set(names.map(Self.directoryName(forQueue:)))
        for entry in PosixFile.list(directory + "/queues") where !kept.contains(entry) {
            PosixFile.removeTree(directory + "/queues/" + entry)
        }
    }

    func append(_ message: Message, to store: QueueStore) throws(StorageError) -> StoreLocation {
        let location = try store.append(message)
        dirty[ObjectIdentifier(store)] = store
        writesSinceSync = true
        return location
    }

    func remove(_ location: StoreLocation, from store: QueueStore) {
        store.remove(location)
        dirty[ObjectIdentifier(store)] = store
    }

    /// Records that a stored message came back to its quorum queue once more (its delivery
    /// count, kept across restarts).
    func recordReturn(_ location: StoreLocation, in store: QueueStore) {
        store.recordReturn(location)
        dirty[ObjectIdentifier(store)] = store
    }

    /// Removes a record once everything written in the current batch is synced.
    func removeAfterSync(_ location: StoreLocation, from store: QueueStore) {
        removalsAwaitingSync.append((currentBatch, location, store))
    }

    private func removeSyncedRemovals() {
        var waiting: [(batch: UInt64, location: StoreLocation, store: QueueStore)] = []
        for r in removalsAwaitingSync {
            if r.batch <= syncedThrough {
                // A store destroyed meanwhile ignores the removal.
                remove(r.location, from: r.store)
            } else {
                waiting.append(r)
            }
        }
        removalsAwaitingSync = waiting
    }

    func record(_ change: TopologyRecord) {
        metadata.append(change)
        writesSinceSync = true
    }

    /// Whether a write made now has been synced.
    public var hasUnsyncedWrites: Bool { writesSinceSync || !syncsInFlight.isEmpty }

    /// Removes the vhost's whole storage directory (the vhost was deleted).
    func destroy() {
        for (name, store) in queueStores { destroyQueueStore(store, named: name) }
        for (name, log) in streamLogs { destroyStreamLog(log, named: name) }
        PosixFile.removeTree(directory)
    }

    // MARK: Group commit

    /// Writes what the batch buffered and starts a sync if none is running.
    public func endOfBatch() {
        do {
            try metadata.flush()
            for store in dirty.values {
                try store.flush()
                retiredFDs.append(contentsOf: store.fdsToClose)
                store.fdsToClose.removeAll()
            }
            dirty.removeAll(keepingCapacity: true)
            for log in dirtyStreams.values {
                try log.flush()
                retiredFDs.append(contentsOf: log.fdsToClose)
                log.fdsToClose.removeAll()
            }
            dirtyStreams.removeAll(keepingCapacity: true)
            if lastWriteError != nil {
                logger.notice("storage writes succeed again")
                lastWriteError = nil
            }
        } catch {
            if lastWriteError == nil { logger.error("storage write failed, will retry: \(error)") }
            lastWriteError = error
            return
        }
        if writesSinceSync && syncsInFlight.count < maxSyncsInFlight { startSync() }
    }

    private func startSync() {
        let target = currentBatch
        currentBatch += 1
        writesSinceSync = false
        syncsInFlight.insert(target)
        var fds: [Int32] = []
        if let fd = metadata.takeUnsynced() { fds.append(fd) }
        for store in queueStores.values {
            let (storeFDs, newEntries) = store.takeUnsynced()
            fds.append(contentsOf: storeFDs)
            if newEntries { directoriesToSync.insert(store.directory) }
        }
        for log in streamLogs.values {
            let (logFDs, newEntries) = log.takeUnsynced()
            fds.append(contentsOf: logFDs)
            if newEntries { directoriesToSync.insert(log.directory) }
        }
        let directories = Array(directoriesToSync)
        directoriesToSync.removeAll()
        syncer(fds, directories) { [self] in
            syncsInFlight.remove(target)
            if syncsInFlight.isEmpty {
                // Retired files are closed only when no sync holds their fds, so no fd number
                // is reused under a sync thread.
                for fd in retiredFDs { close(fd) }
                retiredFDs.removeAll()
            }
            completedOutOfOrder.insert(target)
            // Durable through a batch only once every earlier sync has completed too.
            let before = syncedThrough
            while completedOutOfOrder.remove(syncedThrough + 1) != nil { syncedThrough += 1 }
            if syncedThrough > before {
                if !removalsAwaitingSync.isEmpty { removeSyncedRemovals() }
                onSynced?(syncedThrough)
            }
            if writesSinceSync { endOfBatch() }
        }
    }
}
