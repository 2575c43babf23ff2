/// A vhost-scoped runtime parameter: `{"vhost", "component", "name", "value"}` (vhost limits,
/// federation upstreams, shovels, ...).
public struct ParameterDefinition: Sendable, Hashable, Codable {
    public var vhost: String
    public var component: String
    public var name: String
    public var value: JSONValue

    public init(vhost: String, component: String, name: String, value: JSONValue) {
        self.vhost = vhost
        self.component = component
        self.name = name
        self.value = value
    }
}
