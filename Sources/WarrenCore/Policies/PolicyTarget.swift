/// What a policy applies to (`--apply-to`).
public enum PolicyTarget: String, Sendable, Hashable, Codable, CaseIterable {
    case queues
    case exchanges
    case all

    func includes(_ kind: PolicyTarget) -> Bool { self == .all || self == kind }
}
