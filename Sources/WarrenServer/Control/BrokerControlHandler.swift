import AMQPProtocol
import Foundation
import NIOCore
import WarrenControl
import WarrenCore

/// warrenctl's commands against the running broker: users, vhosts and permissions through the
/// `UserDirectory`; listings, purges, deletions and definitions through the vhosts, each on
/// its own event loop.
public final class BrokerControlHandler: ControlCommandHandler {
    let runtime: BrokerRuntime

    public init(runtime: BrokerRuntime) {
        self.runtime = runtime
    }

    public func handle(_ request: ControlRequest) async -> ControlResponse {
        if UserDatabaseCommands.names.contains(request.command)
            || RuntimeParameterCommands.names.contains(request.command)
        {
            return await userDatabaseCommand(request)
        }
        switch request.command {
        case "await_startup":
            return .done
        case "status": return await status()
        case "set_vm_memory_high_watermark": return await setMemoryWatermark(request)
        case "set_disk_free_limit": return await setDiskFreeLimit(request)
        case "list_queues": return await onVhost(request) { Self.queueTable($0, request.columns) }
        case "list_exchanges": return await onVhost(request) { Self.exchangeTable($0, request.columns) }
        case "list_bindings": return await onVhost(request) { Self.bindingTable($0, request.columns) }
        case "list_connections": return await connectionTable(request.columns)
        case "list_channels": return await channelTable(request.columns)
        case "list_consumers": return await consumerTable(request)
        case "close_connection":
            guard let name = request.args.first else {
                return .failure("close_connection needs a connection name", .usage)
            }
            let reason = request.args.count > 1 ? request.args[1] : "Closed via warrenctl"
            return runtime.connections.close(named: name, reason: reason)
                ? .done : .failure("Connection \(name) does not exist", .noUser)
        case "purge_queue": return await purgeQueue(request)
        case "delete_queue": return await deleteQueue(request)
        case "export_definitions": return await exportDefinitions()
        case "import_definitions": return await importDefinitions(request)
        default:
            return .failure("unknown command '\(request.command)'", .usage)
        }
    }

    // MARK: Status and resource limits

    /// rabbitmqctl status's keys, as far as they apply to Warren, and Warren's own counts.
    private func status() async -> ControlResponse {
        let alarms = runtime.alarms.snapshot
        var queues = 0
        for handle in runtime.allVhosts {
            queues += (try? await handle.eventLoop.submit { handle.vhost.queues.count }.get()) ?? 0
        }
        let connections = runtime.connections.all.count
        let vhosts = runtime.allVhosts.count
        let setting: JSONValue =
            switch alarms.memoryWatermark {
            case .relative(let fraction): .object(["relative": .double(fraction)])
            case .absolute(let bytes): .object(["absolute": .int(Int64(clamping: bytes))])
            }
        var document: [String: JSONValue] = [
            "product_name": .string("Warren"), "product_version": .string(WarrenVersion.string),
            "connections": .int(Int64(connections)), "virtual_host_count": .int(Int64(vhosts)),
            "users": .int(Int64(runtime.users.database.users.count)),
            "pid": .int(Int64(getpid())), "os": .string("Linux"),
            "uptime": .int((NIODeadline.now() - runtime.startedAt).nanoseconds / 1_000_000_000),
            "totals": .object([
                "connection_count": .int(Int64(connections)), "queue_count": .int(Int64(queues)),
                "virtual_host_count": .int(Int64(vhosts)),
            ]),
            "alarms": .array(
                alarms.raised.map {
                    .object([
                        "node": .string(NodeName.local), "resource": .string($0.rawValue),
                        "type": .string("resource_limit"),
                    ])
                }),
            "memory": .object([
                "strategy": .string("rss"), "total": .object(["rss": .int(Int64(clamping: alarms.memoryUsed ?? 0))]),
            ]),
            "vm_memory_calculation_strategy": .string("rss"),
            "vm_memory_high_watermark_setting": setting,
            "vm_memory_high_watermark_limit": .int(Int64(clamping: alarms.memoryLimit)),
            "total_memory_available": .int(Int64(clamping: alarms.totalMemory)),
            "disk_free_limit": .int(Int64(clamping: alarms.diskFreeLimit)),
        ]
        if let free = alarms.diskFree { document["disk_free"] = .int(Int64(clamping: free)) }
        return .document(.object(document))
    }

    /// `{"relative": "0.5"}` or `{"absolute": "<bytes>"}`, checked by warrenctl.
    private func setMemoryWatermark(_ request: ControlRequest) async -> ControlResponse {
        let watermark: MemoryWatermark
        if let text = request.options["relative"], let fraction = Double(text), (0...1).contains(fraction) {
            watermark = .relative(fraction)
        } else if let text = request.options["absolute"], let bytes = UInt64(text) {
            watermark = .absolute(bytes)
        } else {
            return .failure("Bad argument.", .dataError)
        }
        await runtime.alarms.setMemoryWatermark(watermark)
        return .done
    }

    /// `{"absolute": "<bytes>"}` or `{"mem_relative": "<factor>"}`, checked by warrenctl.
    private func setDiskFreeLimit(_ request: ControlRequest) async -> ControlResponse {
        let limit: DiskFreeLimit
        if let text = request.options["absolute"], let bytes = UInt64(text) {
            limit = .absolute(bytes)
        } else if let text = request.options["mem_relative"], let factor = Double(text), factor >= 0 {
            limit = .memoryRelative(factor)
        } else {
            return .failure("Bad argument.", .dataError)
        }
        await runtime.alarms.setDiskFreeLimit(limit)
        return .done
    }

    // MARK: Users, vhosts, permissions

    private func userDatabaseCommand(_ request: ControlRequest) async -> ControlResponse {
        let before = Set(runtime.users.database.vhostNames)
        let outcome: (result: ControlResponse?, database: UserDatabase)
        do {
            outcome = try runtime.users.update { database in
                UserDatabaseCommands.run(request, on: &database) ?? RuntimeParameterCommands.run(request, on: &database)
            }
        } catch {
            return .failure("cannot save the user database: \(error)", .software)
        }
        guard let response = outcome.result else { return .failure("unknown command '\(request.command)'", .usage) }
        if UserDatabaseCommands.changesDatabase(request.command) {
            await applyVhostChanges(before: before, after: Set(outcome.database.vhostNames))
            await runtime.publishAccess()
        }
        if RuntimeParameterCommands.changesDatabase(request.command) {
            await runtime.publishPolicies()
        }
        if request.command == "delete_user", response.ok, let user = request.args.first {
            runtime.connections.closeAll(ofUser: user, reason: "user '\(user)' is deleted")
        }
        return response
    }

    /// Opens vhosts that were added and removes those that were deleted (closing their
    /// connections first, as RabbitMQ does).
    func applyVhostChanges(before: Set<String>, after: Set<String>) async {
        for name in after.subtracting(before).sorted() {
            _ = try? runtime.openVhost(name)
        }
        for name in before.subtracting(after).sorted() {
            runtime.connections.closeAll(inVhost: name, reason: "vhost '\(name)' is deleted")
            await runtime.deleteVhost(name)
        }
    }

    // MARK: Vhost work

    private func onVhost(
        _ request: ControlRequest, _ body: @escaping @Sendable (VirtualHost) throws -> ControlResponse
    ) async -> ControlResponse {
        guard let handle = runtime.vhost(named: request.vhost) else {
            return .failure("Virtual host '\(request.vhost)' does not exist", .dataError)
        }
        do {
            return try await handle.eventLoop.submit { try body(handle.vhost) }.get()
        } catch {
            return .failure("\(error)", .software)
        }
    }

    static func queueTable(_ vhost: VirtualHost, _ columns: [String]) -> ControlResponse {
        let records = vhost.queues.values.sorted { $0.name < $1.name }.map { q -> [String: JSONValue] in
            if let stream = q.streamSummary {
                // A stream's messages stay in it: all of them are ready, none unacknowledged.
                return [
                    "name": .string(q.name), "durable": .bool(true), "auto_delete": .bool(false),
                    "arguments": ControlValue.arguments(q.arguments), "policy": .string(q.policyName ?? ""),
                    "operator_policy": .string(q.operatorPolicyName ?? ""), "exclusive": .bool(false),
                    "messages_ready": .int(Int64(stream.messages)), "messages_unacknowledged": .int(0),
                    "messages": .int(Int64(stream.messages)), "consumers": .int(Int64(q.consumerCount)),
                    "message_bytes": .int(Int64(stream.bytes)), "message_bytes_ready": .int(Int64(stream.bytes)),
                    "state": .string("running"), "type": .string("stream"), "online": .bool(true),
                ]
            }
            return [
                "name": .string(q.name), "durable": .bool(q.durable), "auto_delete": .bool(q.autoDelete),
                "arguments": ControlValue.arguments(q.arguments), "policy": .string(q.policyName ?? ""),
                "operator_policy": .string(q.operatorPolicyName ?? ""),
                "exclusive": .bool(q.exclusiveOwner != nil), "messages_ready": .int(Int64(q.messageCount)),
                "messages_unacknowledged": .int(Int64(q.unacknowledged)),
                "messages": .int(Int64(q.messageCount + q.unacknowledged)), "consumers": .int(Int64(q.consumerCount)),
                "message_bytes": .int(Int64(q.readyBytes)), "message_bytes_ready": .int(Int64(q.readyBytes)),
                "state": .string("running"), "type": .string(q.type.rawValue), "online": .bool(true),
            ]
        }
        return .table(ControlTable(columns: columns, records: records))
    }

    static func exchangeTable(_ vhost: VirtualHost, _ columns: [String]) -> ControlResponse {
        let records = vhost.exchanges.values.sorted { $0.name < $1.name }.map { e -> [String: JSONValue] in
            [
                "name": .string(e.name), "type": .string(e.kind.rawValue), "durable": .bool(e.durable),
                "auto_delete": .bool(e.autoDelete), "internal": .bool(e.isInternal),
                "arguments": ControlValue.arguments(e.arguments), "policy": .string(e.policyName ?? ""),
            ]
        }
        return .table(ControlTable(columns: columns, records: records))
    }

    static func bindingTable(_ vhost: VirtualHost, _ columns: [String]) -> ControlResponse {
        func record(
            _ source: String, _ destination: String, _ kind: String, _ key: String, _ arguments: FieldTable
        )
            -> [String: JSONValue]
        {
            [
                "source_name": .string(source), "source_kind": .string("exchange"),
                "destination_name": .string(destination), "destination_kind": .string(kind),
                "routing_key": .string(key), "arguments": ControlValue.arguments(arguments),
            ]
        }
        // The default exchange's implicit bindings come first, as rabbitmqctl lists them.
        var records = vhost.queues.keys.sorted().map { record("", $0, "queue", $0, [:]) }
        for e in vhost.exchanges.values.sorted(by: { $0.name < $1.name }) where !e.name.isEmpty {
            for b in e.bindings {
                records.append(record(e.name, b.destination.name, b.destination.kindName, b.routingKey, b.arguments))
            }
        }
        return .table(ControlTable(columns: columns, records: records))
    }

    private func connectionTable(_ columns: [String]) async -> ControlResponse {
        var records: [[String: JSONValue]] = []
        for info in runtime.connections.all {
            let (channels, inFlow) =
                (try? await runtime.vhost(named: info.vhost)?.eventLoop.submit {
                    (info.session.channelSummaries.count, info.session.parkedBatches > 0)
                }.get()) ?? (0, false)
            records.append([
                "pid": .string(info.pid), "name": .string(info.name), "user": .string(info.user),
                "vhost": .string(info.vhost),
                "peer_host": .string(info.peerHost), "peer_port": .int(Int64(info.peerPort)),
                "state": .string(inFlow ? "flow" : "running"), "channels": .int(Int64(channels)),
                "protocol": .string("{0,9,1}"), "auth_mechanism": .string("PLAIN"), "ssl": .bool(false),
                "timeout": .int(Int64(info.heartbeat)), "frame_max": .int(Int64(info.frameMax)),
                "channel_max": .int(Int64(info.channelMax)), "connected_at": .int(Int64(info.connectedAt)),
            ])
        }
        return .table(ControlTable(columns: columns, records: records))
    }

    private func channelTable(_ columns: [String]) async -> ControlResponse {
        var records: [[String: JSONValue]] = []
        for info in runtime.connections.all {
            guard let handle = runtime.vhost(named: info.vhost),
                let summaries = try? await handle.eventLoop.submit({ info.session.channelSummaries }).get()
            else { continue }
            for c in summaries {
                records.append([
                    "connection": .string(info.name), "name": .string("\(info.name) (\(c.number))"),
                    "number": .int(Int64(c.number)), "user": .string(info.user), "vhost": .string(info.vhost),
                    "transactional": .bool(c.transactional), "confirm": .bool(c.confirm),
                    "consumer_count": .int(Int64(c.consumerCount)),
                    "messages_unacknowledged": .int(Int64(c.unacknowledged)),
                    "prefetch_count": .int(Int64(c.prefetchCount)),
                    "global_prefetch_count": .int(Int64(c.globalPrefetchCount)),
                    "pid": .string("<\(info.id).\(c.number)>"),
                ])
            }
        }
        return .table(ControlTable(columns: columns, records: records))
    }

    private func consumerTable(_ request: ControlRequest) async -> ControlResponse {
        var records: [[String: JSONValue]] = []
        for info in runtime.connections.all where info.vhost == request.vhost {
            guard let handle = runtime.vhost(named: info.vhost),
                let consumers = try? await handle.eventLoop.submit({ info.session.consumerSummaries }).get()
            else { continue }
            for c in consumers {
                records.append([
                    "queue_name": .string(c.queue), "channel_pid": .string("<\(info.id).\(c.channel)>"),
                    "consumer_tag": .string(c.consumerTag), "ack_required": .bool(c.ackRequired),
                    "prefetch_count": .int(Int64(c.prefetchCount)), "active": .bool(c.active),
                    "activity_status": .string(c.activityStatus), "arguments": ControlValue.arguments(c.arguments),
                ])
            }
        }
        return .table(ControlTable(columns: request.columns, records: records))
    }

    private func purgeQueue(_ request: ControlRequest) async -> ControlResponse {
        guard let name = request.args.first else { return .failure("purge_queue needs a queue name", .usage) }
        return await onVhost(request) { vhost in
            guard let q = vhost.queues[name] else { return .failure("not_found", .unavailable) }
            _ = q.purge()
            return .done
        }
    }

    private func deleteQueue(_ request: ControlRequest) async -> ControlResponse {
        guard let name = request.args.first else { return .failure("delete_queue needs a queue name", .usage) }
        let ifEmpty = request.options["if_empty"] == "true"
        let ifUnused = request.options["if_unused"] == "true"
        return await onVhost(request) { vhost in
            guard let q = vhost.queues[name] else { return .failure("Queue not found", .usage) }
            if ifEmpty && q.messageCount > 0 { return .failure("Queue \(name) is not empty", .dataError) }
            if ifUnused && q.consumerCount > 0 { return .failure("Queue \(name) is in use", .dataError) }
            let count = vhost.deleteQueue(q)
            vhost.endOfBatch()
            return .text("Queue was successfully deleted with \(count) ready messages")
        }
    }

    // MARK: Definitions

    private func exportDefinitions() async -> ControlResponse {
        let database = runtime.users.database
        var definitions = Definitions(userDatabase: database)
        definitions.policies = database.runtimeParameters.policies
        definitions.parameters = RuntimeParameterCommands.parameterList(database.runtimeParameters)
        definitions.globalParameters = database.runtimeParameters.globalParameters
        definitions.productName = "Warren"
        definitions.productVersion = WarrenVersion.string
        for handle in runtime.allVhosts {
            guard let topology = try? await handle.eventLoop.submit({ handle.vhost.topologyDefinitions() }).get()
            else { continue }
            definitions.exchanges += topology.exchanges
            definitions.queues += topology.queues
            definitions.bindings += topology.bindings
        }
        do {
            return .document(try JSONDecoder().decode(JSONValue.self, from: try definitions.json()))
        } catch {
            return .failure("cannot export definitions: \(error)", .software)
        }
    }

    private func importDefinitions(_ request: ControlRequest) async -> ControlResponse {
        let definitions: Definitions
        do {
            definitions = try Definitions(json: Data((request.options["definitions"] ?? "").utf8))
        } catch {
            return .failure("Failed to decode definitions: \(error)", .dataError)
        }
        do {
            try await apply(definitions)
        } catch let error as BrokerError {
            return .failure("Failed to import definitions: \(error.text)", .dataError)
        } catch {
            return .failure("Failed to import definitions: \(error)", .dataError)
        }
        return .text("Successfully imported definitions")
    }

    /// Imports users, vhosts, permissions, then each vhost's exchanges, queues and bindings.
    public func apply(_ definitions: Definitions) async throws {
        let before = Set(runtime.users.database.vhostNames)
        let outcome = try runtime.users.update { database in try database.importDefinitions(definitions) }
        await applyVhostChanges(before: before, after: Set(outcome.database.vhostNames))
        await runtime.publishAccess()
        await runtime.publishPolicies()
        for handle in runtime.allVhosts {
            try await handle.eventLoop.submit {
                try handle.vhost.importTopology(
                    exchanges: definitions.exchanges, queues: definitions.queues, bindings: definitions.bindings)
            }.get()
        }
    }
}
