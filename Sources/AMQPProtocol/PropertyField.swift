/// The basic class's content-header properties in wire order, each with its bit in the
/// property-flags word (bit 15 first) and its encoding.
enum PropertyField: Int, CaseIterable {
    case contentType = 15
    case contentEncoding = 14
    case headers = 13
    case deliveryMode = 12
    case priority = 11
    case correlationID = 10
    case replyTo = 9
    case expiration = 8
    case messageID = 7
    case timestamp = 6
    case type = 5
    case userID = 4
    case appID = 3
    case clusterID = 2

    enum Encoding {
        case shortString, table, octet, timestamp
    }

    /// Bit 0 of a flags word says another flags word follows.
    static let continuationBit: UInt16 = 1

    var mask: UInt16 { 1 << UInt16(rawValue) }

    var encoding: Encoding {
        switch self {
        case .headers: return .table
        case .deliveryMode, .priority: return .octet
        case .timestamp: return .timestamp
        default: return .shortString
        }
    }

    var name: String {
        switch self {
        case .contentType: return "content-type"
        case .contentEncoding: return "content-encoding"
        case .headers: return "headers"
        case .deliveryMode: return "delivery-mode"
        case .priority: return "priority"
        case .correlationID: return "correlation-id"
        case .replyTo: return "reply-to"
        case .expiration: return "expiration"
        case .messageID: return "message-id"
        case .timestamp: return "timestamp"
        case .type: return "type"
        case .userID: return "user-id"
        case .appID: return "app-id"
        case .clusterID: return "cluster-id"
        }
    }
}
