/// One permission an operation needs: a kind of access to a resource.
public struct AccessRequirement: Sendable, Hashable {
    public var access: AccessKind
    public var resource: ProtectedResource

    public init(_ access: AccessKind, _ resource: ProtectedResource) {
        self.access = access
        self.resource = resource
    }
}
