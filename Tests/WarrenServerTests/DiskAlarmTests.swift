import Testing

@testable import WarrenServer

@Suite("Disk alarm")
struct DiskAlarmTests {
    @Test func alarmIsRaisedBelowTheLimitAndClearedAboveIt() {
        var alarm = DiskAlarm(limit: 1000)
        #expect(alarm.update(freeBytes: 5000) == nil)
        #expect(alarm.update(freeBytes: 999) == .raised)
        #expect(alarm.isRaised)
        #expect(alarm.update(freeBytes: 10) == nil)
        #expect(alarm.update(freeBytes: 1000) == .cleared)
        #expect(!alarm.isRaised)
        #expect(alarm.update(freeBytes: 2000) == nil)
    }

    @Test func freeSpaceOfTheWorkingDirectoryIsReadable() throws {
        let free = try #require(freeDiskBytes(at: "."))
        #expect(free > 0)
    }
}
