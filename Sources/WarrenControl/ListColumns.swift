/// The columns each list command knows, in rabbitmqctl 3.10's terms, and those shown when none
/// are asked for. warrenctl checks requested columns against these; the broker answers with
/// exactly the columns in the request.
public struct ListColumns: Sendable {
    public var all: [String]
    public var defaults: [String]

    /// The columns a list request asked for, or its command's defaults.
    public static func columns(for request: ControlRequest) -> [String] {
        let asked = request.columns
        return asked.isEmpty ? byCommand[request.command]?.defaults ?? [] : asked
    }

    public static let byCommand: [String: ListColumns] = [
        "list_users": ListColumns(all: ["user", "tags"], defaults: ["user", "tags"]),
        "list_vhosts": ListColumns(
            all: ["name", "description", "tags", "default_queue_type", "tracing", "cluster_state"],
            defaults: ["name"]),
        "list_permissions": ListColumns(
            all: ["user", "configure", "write", "read"], defaults: ["user", "configure", "write", "read"]),
        "list_user_permissions": ListColumns(
            all: ["vhost", "configure", "write", "read"], defaults: ["vhost", "configure", "write", "read"]),
        "list_topic_permissions": ListColumns(
            all: ["user", "exchange", "write", "read"], defaults: ["user", "exchange", "write", "read"]),
        "list_policies": ListColumns(
            all: ["vhost", "name", "pattern", "apply-to", "definition", "priority"],
            defaults: ["vhost", "name", "pattern", "apply-to", "definition", "priority"]),
        "list_operator_policies": ListColumns(
            all: ["vhost", "name", "pattern", "apply-to", "definition", "priority"],
            defaults: ["vhost", "name", "pattern", "apply-to", "definition", "priority"]),
        "list_parameters": ListColumns(
            all: ["component", "name", "value"], defaults: ["component", "name", "value"]),
        "list_global_parameters": ListColumns(all: ["name", "value"], defaults: ["name", "value"]),
        "list_queues": ListColumns(
            all: [
                "name", "durable", "auto_delete", "arguments", "policy", "pid", "owner_pid", "exclusive",
                "exclusive_consumer_pid", "exclusive_consumer_tag", "messages_ready", "messages_unacknowledged",
                "messages", "messages_ready_ram", "messages_unacknowledged_ram", "messages_ram",
                "messages_persistent", "message_bytes", "message_bytes_ready", "message_bytes_unacknowledged",
                "message_bytes_ram", "message_bytes_persistent", "head_message_timestamp", "disk_reads",
                "disk_writes", "consumers", "consumer_utilisation", "consumer_capacity", "memory", "state", "type",
                "online", "leader", "members", "slave_pids", "synchronised_slave_pids",
            ],
            defaults: ["name", "messages"]),
        "list_exchanges": ListColumns(
            all: ["name", "type", "durable", "auto_delete", "internal", "arguments", "policy"],
            defaults: ["name", "type"]),
        "list_bindings": ListColumns(
            all: ["source_name", "source_kind", "destination_name", "destination_kind", "routing_key", "arguments"],
            defaults: [
                "source_name", "source_kind", "destination_name", "destination_kind", "routing_key", "arguments",
            ]
        ),
        "list_connections": ListColumns(
            all: [
                "pid", "name", "port", "host", "peer_port", "peer_host", "ssl", "ssl_protocol", "ssl_key_exchange",
                "ssl_cipher", "ssl_hash", "peer_cert_subject", "peer_cert_issuer", "peer_cert_validity", "state",
                "channels", "protocol", "auth_mechanism", "user", "vhost", "timeout", "frame_max", "channel_max",
                "client_properties", "recv_oct", "recv_cnt", "send_oct", "send_cnt", "send_pend", "connected_at",
            ],
            defaults: ["user", "peer_host", "peer_port", "state"]),
        "list_channels": ListColumns(
            all: [
                "pid", "connection", "name", "number", "user", "vhost", "transactional", "confirm", "consumer_count",
                "messages_unacknowledged", "messages_uncommitted", "acks_uncommitted", "messages_unconfirmed",
                "prefetch_count", "global_prefetch_count",
            ],
            defaults: ["pid", "user", "consumer_count", "messages_unacknowledged"]),
        "list_consumers": ListColumns(
            all: [
                "queue_name", "channel_pid", "consumer_tag", "ack_required", "prefetch_count", "active",
                "activity_status", "arguments",
            ],
            defaults: [
                "queue_name", "channel_pid", "consumer_tag", "ack_required", "prefetch_count", "active", "arguments",
            ]),
    ]
}
