/// A node-wide runtime parameter: `{"name", "value"}` (cluster_name, internal_cluster_id, ...).
public struct GlobalParameterDefinition: Sendable, Hashable, Codable {
    public var name: String
    public var value: JSONValue

    public init(name: String, value: JSONValue) {
        self.name = name
        self.value = value
    }
}
