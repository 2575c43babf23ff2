import Testing

@testable import WarrenCore

@Suite("CRC-32C")
struct CRC32CTests {
    @Test func matchesTheStandardCheckValue() {
        // The catalogue check value of CRC-32C for the ASCII digits 1 to 9.
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test func continuingOverPiecesEqualsOneChecksumOfTheWhole() {
        var g = SystemRandomNumberGenerator()
        let bytes = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &g) }
        let whole = CRC32C.checksum(bytes)
        for cut in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let first = bytes[..<cut].withUnsafeBytes { CRC32C.update(0, $0) }
            let both = bytes[cut...].withUnsafeBytes { CRC32C.update(first, $0) }
            #expect(both == whole)
        }
    }

    @Test func emptyInputLeavesTheChecksumUnchanged() {
        #expect(CRC32C.checksum([UInt8]()) == 0)
    }
}
