/// What the broker implements to answer warrenctl: one call per request, whatever the command.
/// Unknown commands should get `.failure("...", .usage)`. Called concurrently, one task per
/// connection.
public protocol ControlCommandHandler: Sendable {
    func handle(_ request: ControlRequest) async -> ControlResponse
}
