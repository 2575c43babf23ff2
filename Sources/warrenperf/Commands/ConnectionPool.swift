import NIOCore

/// Opens and closes the connections a command's workloads use.
enum ConnectionPool {
    /// Opens `count` connections named `name-i`, all at once; throws the first failure (after
    /// closing the ones that opened).
    static func open(
        _ count: Int, uri: AMQPURI, group: EventLoopGroup, name: String
    ) async throws -> [ClientConnection] {
        try await withThrowingTaskGroup(of: (Int, ClientConnection).self) { tasks in
            for i in 0..<count {
                tasks.addTask { (i, try await ClientConnection.open(uri, group: group, name: "\(name)-\(i)")) }
            }
            var opened: [ClientConnection?] = Array(repeating: nil, count: count)
            do {
                for try await (i, connection) in tasks { opened[i] = connection }
            } catch {
                await closeAll(opened.compactMap { $0 })
                throw error
            }
            return opened.map { $0! }
        }
    }

    /// Closes every connection, concurrently.
    static func closeAll(_ connections: [ClientConnection]) async {
        await withTaskGroup(of: Void.self) { tasks in
            for connection in connections { tasks.addTask { await connection.close() } }
        }
    }
}
