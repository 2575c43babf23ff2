import Testing

@testable import WarrenServer

@Suite struct ChannelTableTests {
    @Test func opensFindsAndClosesLowAndHighNumbers() {
        var table = ChannelTable()
        #expect(table[1] == nil)
        table[1] = ChannelFrameState()
        table[63] = ChannelFrameState()
        table[64] = ChannelFrameState()
        table[65535] = ChannelFrameState()
        #expect(table.count == 4)
        #expect(table[1] != nil && table[63] != nil && table[64] != nil && table[65535] != nil)
        #expect(table[2] == nil && table[1000] == nil)
        table[63] = nil
        table[65535] = nil
        table[65535] = nil
        #expect(table.count == 2)
        #expect(table[63] == nil && table[65535] == nil)
        table[1]!.state = .closing
        #expect(table[1]?.isClosing == true)
        #expect(table[64]?.isClosing == false)
    }
}
