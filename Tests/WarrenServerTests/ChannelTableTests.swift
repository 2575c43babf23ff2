import Testing

@testable import WarrenServer

@Suite struct ChannelTableTests {
    @Test func opensFindsAndClosesLowAndHighNumbers() {
        var table = ChannelTable()
        #expect(table[1] == nil)
        table.open(1)
        table.open(63)
        table.open(64)
        table.open(65535)
        #expect(table.count == 4)
        #expect(table[1] != nil && table[63] != nil && table[64] != nil && table[65535] != nil)
        #expect(table[2] == nil && table[1000] == nil)
        table.close(63)
        table.close(65535)
        table.close(65535)
        table.close(7)
        #expect(table.count == 2)
        #expect(table[63] == nil && table[65535] == nil)
        #expect(table.update(1) { $0.state = .closing } != nil)
        #expect(table.update(2) { $0.state = .closing } == nil)
        #expect(table[1]?.isClosing == true)
        #expect(table[64]?.isClosing == false)
        // Opening an open channel again starts it afresh, without counting it twice.
        table.open(1)
        table.open(64)
        #expect(table.count == 2)
        #expect(table[1]?.isClosing == false)
    }
}
