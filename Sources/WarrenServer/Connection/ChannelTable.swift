/// A connection's channels by number. Clients number their channels from 1, so numbers below 64
/// live in an array that a frame reaches without hashing; any others (a client may use numbers
/// up to 65535) in a dictionary.
///
/// A channel's state is changed in place through `update`, so content being assembled stays
/// uniquely referenced. It takes a closure rather than offering a `_modify` accessor: that
/// accessor's coroutine frame was allocated on the heap at every call, three times per
/// published message.
struct ChannelTable {
    private static let direct = 64
    private var low: [ChannelFrameState?] = []
    private var high: [UInt16: ChannelFrameState] = [:]
    /// How many channels are open.
    private(set) var count = 0

    /// Channel `number`'s state, nil if it is not open.
    subscript(number: UInt16) -> ChannelFrameState? {
        let i = Int(number)
        if i < Self.direct { return i < low.count ? low[i] : nil }
        return high[number]
    }

    /// Opens channel `number` (idle).
    mutating func open(_ number: UInt16) {
        let i = Int(number)
        if i < Self.direct {
            if i >= low.count { low.append(contentsOf: repeatElement(nil, count: i + 1 - low.count)) }
            if low[i] == nil { count += 1 }
            low[i] = ChannelFrameState()
        } else {
            if high.updateValue(ChannelFrameState(), forKey: number) == nil { count += 1 }
        }
    }

    /// Forgets channel `number`, if it is open.
    mutating func close(_ number: UInt16) {
        let i = Int(number)
        if i < Self.direct {
            guard i < low.count, low[i] != nil else { return }
            low[i] = nil
            count -= 1
        } else if high.removeValue(forKey: number) != nil {
            count -= 1
        }
    }

    /// Runs `body` on open channel `number`'s state, in place; nil if the channel is not open.
    @inline(__always)
    mutating func update<R>(_ number: UInt16, _ body: (inout ChannelFrameState) -> R) -> R? {
        let i = Int(number)
        if i < Self.direct {
            guard i < low.count, low[i] != nil else { return nil }
            return body(&low[i]!)
        }
        guard high[number] != nil else { return nil }
        return body(&high[number]!)
    }
}
