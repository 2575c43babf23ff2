import Foundation
import Testing

@testable import WarrenServer

@Suite("Disk alarm")
struct DiskAlarmTests {
    @Test func alarmIsRaisedBelowTheLimitAndClearedAboveIt() {
        var alarm = ResourceThreshold.diskFree(limit: 1000)
        #expect(alarm.update(5000) == nil)
        #expect(alarm.update(999) == .raised)
        #expect(alarm.isRaised)
        #expect(alarm.update(10) == nil)
        #expect(alarm.update(1000) == .cleared)
        #expect(!alarm.isRaised)
        #expect(alarm.update(2000) == nil)
    }

    @Test func freeSpaceOfTheWorkingDirectoryIsReadable() throws {
        let free = try #require(freeDiskBytes(at: "."))
        #expect(free > 0)
    }

    @Test func aNewLimitIsJudgedAgainstTheLastMeasurement() {
        var alarm = ResourceThreshold.diskFree(limit: 1000)
        #expect(alarm.setLimit(5000) == nil, "nothing measured yet")
        #expect(alarm.update(3000) == .raised)
        #expect(alarm.setLimit(2000) == .cleared)
        #expect(alarm.setLimit(3001) == .raised)
    }
}

@Suite("Memory alarm")
struct MemoryAlarmTests {
    @Test func alarmIsRaisedAboveTheLimitAndClearedAtOrBelowIt() {
        var alarm = ResourceThreshold.memoryUsed(limit: 1000)
        #expect(alarm.update(500) == nil)
        #expect(alarm.update(1000) == nil, "at the limit is not above it")
        #expect(alarm.update(1001) == .raised)
        #expect(alarm.update(5000) == nil)
        #expect(alarm.update(999) == .cleared)
        #expect(alarm.measured == 999)
    }

    @Test func aNewWatermarkTakesEffectAtOnce() {
        var alarm = ResourceThreshold.memoryUsed(limit: 100)
        #expect(alarm.update(150) == .raised)
        #expect(alarm.setLimit(200) == .cleared)
        #expect(alarm.setLimit(149) == .raised)
    }

    @Test func limitFromAFractionOfTheTotal() {
        let total: UInt64 = 25_276_502_016
        #expect(MemoryWatermark.relative(0.4).limit(totalMemory: total) == 10_110_600_806)
        #expect(MemoryWatermark.relative(0).limit(totalMemory: total) == 0)
        #expect(MemoryWatermark.relative(1).limit(totalMemory: total) == total)
        #expect(MemoryWatermark.default == .relative(0.4))
    }

    @Test func absoluteLimitIsCappedAtTheTotal() {
        #expect(MemoryWatermark.absolute(1_000_000).limit(totalMemory: 8_000_000_000) == 1_000_000)
        #expect(MemoryWatermark.absolute(16_000_000_000).limit(totalMemory: 8_000_000_000) == 8_000_000_000)
    }

    @Test func flagValuesAreFractionsOrBytes() {
        #expect(MemoryWatermark(parsing: "0.4") == .relative(0.4))
        #expect(MemoryWatermark(parsing: "1") == .relative(1))
        #expect(MemoryWatermark(parsing: "1GB") == .absolute(1_000_000_000))
        #expect(MemoryWatermark(parsing: "512MiB") == .absolute(512 << 20))
        #expect(MemoryWatermark(parsing: "2000000000") == .absolute(2_000_000_000))
        #expect(MemoryWatermark(parsing: "lots") == nil)
        #expect(MemoryWatermark(parsing: "1.5") == nil)
        #expect(MemoryWatermark(parsing: "-0.5") == nil)
    }

    @Test func diskLimitRelativeToMemory() {
        #expect(DiskFreeLimit.absolute(50_000_000).limit(totalMemory: 1 << 30) == 50_000_000)
        #expect(DiskFreeLimit.memoryRelative(1.5).limit(totalMemory: 1_000_000) == 1_500_000)
    }
}

@Suite("Disk and memory alarms together")
struct ResourceAlarmsTests {
    @Test func publishersStayBlockedUntilEveryAlarmIsCleared() {
        var alarms = ResourceAlarms(diskFreeLimit: 1000, memoryLimit: 1000)
        #expect(!alarms.blocksPublishers)
        #expect(alarms.memory.update(2000) == .raised)
        #expect(alarms.raised == [.memory])
        #expect(alarms.disk.update(10) == .raised)
        #expect(alarms.raised == [.disk, .memory])
        #expect(alarms.memory.update(10) == .cleared)
        #expect(alarms.blocksPublishers, "the disk alarm still blocks")
        #expect(alarms.raised == [.disk])
        #expect(alarms.disk.update(5000) == .cleared)
        #expect(!alarms.blocksPublishers)
        #expect(alarms.raised == [])
    }

    @Test func blockedReasonNamesTheResourcesAsRabbitMQDoes() {
        #expect(AlarmResource.blockedReason([.memory]) == "low on memory")
        #expect(AlarmResource.blockedReason([.disk]) == "low on disk")
        #expect(AlarmResource.blockedReason([.memory, .disk]) == "low on disk & memory")
    }
}

@Suite("Memory measurements from /proc and /sys")
struct SystemMemoryTests {
    @Test func residentSetFromStatm() {
        #expect(SystemMemory.residentBytes(statm: "765 418 390 5 0 123 0\n", pageSize: 4096) == 418 * 4096)
        #expect(SystemMemory.residentBytes(statm: "", pageSize: 4096) == nil)
        #expect(SystemMemory.residentBytes(statm: "12 x", pageSize: 4096) == nil)
    }

    @Test func memTotalFromMeminfo() {
        let meminfo = "MemTotal:       24684084 kB\nMemFree:        20932492 kB\n"
        #expect(SystemMemory.memTotal(meminfo: meminfo) == 24_684_084 * 1024)
        #expect(SystemMemory.memTotal(meminfo: "MemFree: 1 kB\n") == nil)
    }

    @Test func cgroupLimits() {
        #expect(SystemMemory.cgroupLimit("max\n") == nil)
        #expect(SystemMemory.cgroupLimit("536870912\n") == 536_870_912)
        #expect(SystemMemory.cgroupLimit("9223372036854771712\n") == 9_223_372_036_854_771_712)
        #expect(SystemMemory.cgroupLimit("") == nil)
    }

    @Test func totalIsTheSmallerOfMachineAndCgroup() {
        #expect(SystemMemory.total(machine: 8 << 30, cgroupLimits: [1 << 30]) == 1 << 30)
        #expect(SystemMemory.total(machine: 8 << 30, cgroupLimits: [9_223_372_036_854_771_712]) == 8 << 30)
        #expect(SystemMemory.total(machine: 8 << 30, cgroupLimits: []) == 8 << 30)
        #expect(SystemMemory.total(machine: nil, cgroupLimits: []) == nil)
    }

    @Test func limitFilesForCgroupV2AndV1() {
        #expect(
            SystemMemory.cgroupLimitFiles(procSelfCgroup: "0::/\n")
                == ["/sys/fs/cgroup/memory.max"])
        #expect(
            SystemMemory.cgroupLimitFiles(procSelfCgroup: "0::/system.slice/warren.service\n")
                == ["/sys/fs/cgroup/system.slice/warren.service/memory.max", "/sys/fs/cgroup/memory.max"])
        let v1 = "9:name=systemd:/\n4:memory:/docker/abc\n2:cpu,cpuacct:/\n0::/\n"
        #expect(
            SystemMemory.cgroupLimitFiles(procSelfCgroup: v1)
                == [
                    "/sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes",
                    "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory.max",
                ])
    }

    @Test func thisProcessIsMeasurable() throws {
        let rss = try #require(SystemMemory.residentBytes())
        let total = try #require(SystemMemory.totalBytes())
        #expect(rss > 1 << 20)
        #expect(total > rss)
    }
}
