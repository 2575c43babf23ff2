/// A vhost in definitions: `{"name", "limits", "metadata"}` (3.10; older exports have `tracing`).
public struct VhostDefinition: Sendable, Hashable, Codable {
    public var name: String
    /// RabbitMQ writes limits as a list of `[name, value]` pairs; kept as it came.
    public var limits: JSONValue?
    public var metadata: VhostMetadata?
    public var tracing: Bool?

    public init(name: String, limits: JSONValue? = nil, metadata: VhostMetadata? = nil, tracing: Bool? = nil) {
        self.name = name
        self.limits = limits
        self.metadata = metadata
        self.tracing = tracing
    }
}
