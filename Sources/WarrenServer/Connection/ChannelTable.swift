/// A connection's channels by number. Clients number their channels from 1, so numbers below 64
/// live in an array that a frame reaches without hashing; any others (a client may use numbers
/// up to 65535) in a dictionary. Mutated in place, so content being assembled stays uniquely
/// referenced.
struct ChannelTable {
    private static let direct = 64
    private var low: [ChannelFrameState?] = []
    private var high: [UInt16: ChannelFrameState] = [:]
    /// How many channels are open.
    private(set) var count = 0

    subscript(number: UInt16) -> ChannelFrameState? {
        get {
            let i = Int(number)
            if i < Self.direct { return i < low.count ? low[i] : nil }
            return high[number]
        }
        _modify {
            let i = Int(number)
            if i < Self.direct {
                if i >= low.count { low.append(contentsOf: repeatElement(nil, count: i + 1 - low.count)) }
                let wasOpen = low[i] != nil
                yield &low[i]
                if wasOpen != (low[i] != nil) { count += wasOpen ? -1 : 1 }
            } else {
                let wasOpen = high[number] != nil
                yield &high[number]
                if wasOpen != (high[number] != nil) { count += wasOpen ? -1 : 1 }
            }
        }
    }
}
