@testable import Firmware
import Glibc
import Kernel
import KernelTestSupport
import Testing

func tempPath(_ name: String) -> String { temporaryDirectory("firmloop-outbox") + "/" + name }

/// The outbox's wall clock in these tests, so its epoch (Unix s) is known: 2026-01-01T00:00:00Z.
let testEpoch: Int64 = 1_767_225_600
let testClock: @Sendable () -> Int64 = { testEpoch * 1_000_000_000 }

@Suite struct OutboxTests {
    @Test func sequenceNumbersStartAtOneStayContiguousAndSurviveRestarts() throws {
        let path = tempPath("outbox.db")
        do {
            let o = try Outbox(path: path, clock: testClock)
            #expect(try (1...5).map { try o.appendNow(topic: "t", payload: Array("m\($0)".utf8)) } == [1, 2, 3, 4, 5])
            try o.removeNow([1, 2])
        }
        let again = try Outbox(path: path, clock: testClock)   // a restart
        #expect(try again.appendNow(topic: "t", payload: []) == 6)
        #expect(try again.pendingNow().map(\.seq) == [3, 4, 5, 6])
        #expect(try again.pendingNow().first?.payload == Array("m3".utf8))
        #expect(try again.pendingNow(after: 4, limit: 1).map(\.seq) == [5])
        #expect(try again.countsNow() == Outbox.Counts(pending: 4, nextSeq: 7, dropped: 0, epoch: testEpoch))
    }

    /// A removal and a collection commit without an fsync (a power cut may undo them: the
    /// message is sent again); every append still commits with one, right after them too, and
    /// its fsync covers the log they wrote before it. What each commit ran with is SQLite's
    /// `synchronous` at the time; what a restart reads is everything committed.
    @Test func removalsCommitWithoutASyncAndAppendsWithOne() throws {
        let path = tempPath("outbox.db")
        do {
            let o = try Outbox(path: path, clock: testClock)
            #expect(try o.synchronousNow() == 2)
            for _ in 0..<1100 { try o.appendNow(topic: "t", payload: []) }
            #expect(try o.synchronousNow() == 2)
            try o.removeNow(Array(1...1050))
            #expect(try o.synchronousNow() == 1, "a removal: NORMAL")
            try o.appendNow(topic: "t", payload: [])
            #expect(try o.synchronousNow() == 2, "the append after it: FULL again")
            #expect(try o.collectNow() == 0)
            #expect(try o.synchronousNow() == 1, "a collection: NORMAL")
            try OutputStore(outbox: o).saveNow([("led", 1)])
            #expect(try o.synchronousNow() == 2, "a kept output value: FULL")
            try o.removeNow([1051])
        }
        let again = try Outbox(path: path, clock: testClock)
        #expect(try again.synchronousNow() == 2, "a connection starts FULL")
        #expect(try again.pendingNow().map(\.seq) == Array(1052...1101))
        #expect(try again.removedRowsNow() == 1)
    }

    @Test func whenFullTheOldestAreDroppedAndCounted() throws {
        let path = tempPath("outbox.db")
        do {
            let o = try Outbox(path: path, capacity: 10, clock: testClock)
            for i in 1...25 { _ = try o.appendNow(topic: "t", payload: [UInt8(i)]) }
            #expect(try o.pendingNow().map(\.seq) == Array(16...25))
        }
        #expect(try Outbox(path: path, capacity: 10, clock: testClock).countsNow() == Outbox.Counts(pending: 10, nextSeq: 26, dropped: 15, epoch: testEpoch))
    }

    @Test func fromTheKernelTheDiskWorkIsOffloaded() throws {
        let path = tempPath("outbox.db")
        let o = try Outbox(path: path, clock: testClock)
        let (seqs, left) = try kernelTest { () async throws -> ([Int64], Int) in
            var seqs: [Int64] = []
            for _ in 1...20 {
                let (m, c) = try await o.append(topic: "firmloop/d/snapshot") { seq, _ in Array("{\"seq\":\(seq)}".utf8) }
                #expect(c == Outbox.Counts(pending: Int(m.seq), nextSeq: m.seq + 1, dropped: 0, epoch: testEpoch))
                #expect(m.payload == Array("{\"seq\":\(m.seq)}".utf8))
                seqs.append(m.seq)
            }
            try await o.remove([1, 2, 3])
            return (seqs, try await o.counts().pending)
        }
        #expect(seqs == Array(1...20))
        #expect(left == 17)
        #expect(try o.pendingNow(limit: 1).first?.payload == Array("{\"seq\":4}".utf8))
    }

    @Test func removingTakesScatteredAndRepeatedNumbers() throws {
        let o = try Outbox(path: tempPath("outbox.db"), clock: testClock)
        _ = try o.appendNow(topic: "t", count: 12) { seq, _ in [UInt8(seq)] }
        try o.removeNow([9, 2, 3, 3, 1, 12, 7, 99])
        #expect(try o.pendingNow().map(\.seq) == [4, 5, 6, 8, 10, 11])
        #expect(try o.pendingNow().map(\.payload) == [[4], [5], [6], [8], [10], [11]])
    }

    @Test func removingInOrderMovesTheWatermarkAndCollectingDeletesTheRowsLater() throws {
        let path = tempPath("outbox.db")
        do {
            let o = try Outbox(path: path, clock: testClock)
            _ = try o.appendNow(topic: "t", count: 5) { seq, _ in [UInt8(seq)] }
            #expect(try o.removeNow([2, 1, 3]) == 3)   // gone from pending, still on disk
            #expect(try o.pendingNow().map(\.seq) == [4, 5])
            #expect(try o.pendingNow(after: 1).map(\.seq) == [4, 5])
        }
        // The watermark is on disk: after a restart the same are pending, the rows still wait.
        let o = try Outbox(path: path, clock: testClock)
        #expect(try o.pendingNow().map(\.seq) == [4, 5])
        #expect(try o.countsNow() == Outbox.Counts(pending: 2, nextSeq: 6, dropped: 0, epoch: testEpoch))
        #expect(try o.removedRowsNow() == 3)
        #expect(try o.collectNow(limit: 2) == 1)
        #expect(try o.collectNow() == 0)
        #expect(try o.pendingNow().map(\.seq) == [4, 5])
        #expect(try o.integrityCheckNow() == "ok")
    }

    @Test func outOfOrderRemovalsLeaveGapsTheWatermarkLaterPasses() throws {
        let o = try Outbox(path: tempPath("outbox.db"), clock: testClock)
        _ = try o.appendNow(topic: "t", count: 12) { seq, _ in [UInt8(seq)] }
        #expect(try o.removeNow([9, 2, 3, 3, 1, 12, 7, 99]) == 3)   // 1-3 by the watermark, the rest deleted
        try o.removeNow([4, 5, 6, 8])                                // over the gaps
        #expect(try o.pendingNow().map(\.seq) == [10, 11])
        try o.removeNow([11, 10])
        #expect(try o.pendingNow().isEmpty)
        #expect(try o.countsNow().pending == 0)
        _ = try o.appendNow(topic: "t", payload: [13])
        #expect(try o.removeNow([13]) == 4)   // in order again: the watermark moves
        #expect(try o.countsNow() == Outbox.Counts(pending: 0, nextSeq: 14, dropped: 0, epoch: testEpoch))
    }

    @Test func removedRowsGiveWayAndRowsOnDiskStayWithinTheCapacity() throws {
        let o = try Outbox(path: tempPath("outbox.db"), capacity: 10, clock: testClock)
        _ = try o.appendNow(topic: "t", count: 10) { seq, _ in [UInt8(seq)] }
        #expect(try o.removeNow(Array(1...8)) == 8)
        _ = try o.appendNow(topic: "t", count: 5) { seq, _ in [UInt8(seq)] }
        // 7 pending: 10 on disk at most, so 5 of the 8 removed rows went.
        #expect(try o.countsNow().pending == 7)
        #expect(try o.removedRowsNow() == 3)
        // Full: 4 more drop the oldest 1 pending (watermark) and room is made from removed rows.
        _ = try o.appendNow(topic: "t", count: 4) { seq, _ in [UInt8(seq)] }
        #expect(try o.countsNow() == Outbox.Counts(pending: 10, nextSeq: 20, dropped: 1, epoch: testEpoch))
        #expect(try o.pendingNow().map(\.seq) == Array(10...19))
        #expect(try o.removedRowsNow() == 0)
    }

    @Test func aSecondProcessCannotOpenTheSameOutbox() throws {
        let path = tempPath("outbox.db")
        let first = try Outbox(path: path, clock: testClock)
        // flock is per open file description: a second open in this process stands in for a
        // second process.
        #expect(throws: OutboxError.self) { try Outbox(path: path, clock: testClock) }
        do { _ = try Outbox(path: path, clock: testClock) } catch {
            #expect("\(error)" == "outbox \(path): in use by another process (one firmware per outbox)")
        }
        _ = first
    }

    @Test func anUnusableFileIsAnErrorNamingIt() {
        #expect(throws: OutboxError.self) { try Outbox(path: "/nonexistent-dir/outbox.db") }
        do { _ = try Outbox(path: "/nonexistent-dir/outbox.db") } catch {
            #expect("\(error)".hasPrefix("outbox /nonexistent-dir/outbox.db: "), "\(error)")
        }
    }

    /// 16.6: the write-ahead log had no checkpoint policy or size limit: on a 2 MB partition it
    /// took 2.06 MB. It now stays within `walLimitBytes` and one checkpoint interval.
    @Test func theWriteAheadLogStaysBounded() throws {
        let path = tempPath("outbox.db")
        let o = try Outbox(path: path, clock: testClock)
        var most = 0
        for i in 1...1500 {
            _ = try o.appendNow(topic: "firmloop/d/snapshot", payload: Array(repeating: 0x61, count: 1000))
            if i % 10 == 0 { try o.removeNow(Array(Int64(i - 9)...Int64(i))) }
            most = max(most, fileSize(path + "-wal"))
        }
        #expect(most > 0)
        #expect(most <= Outbox.walLimitBytes + 64 * 1024, "the WAL reached \(most) bytes")
    }

    @Test func messagesThatCouldNotBeStoredAreCountedOnDisk() throws {
        let path = tempPath("outbox.db")
        do {
            let o = try Outbox(path: path, clock: testClock)
            _ = try o.appendNow(topic: "t", count: 1, unstored: 3) { _, c in Array("\(c.unstored)".utf8) }
            #expect(try o.pendingNow().first?.payload == Array("3".utf8))   // the payload sees the count it is stored with
            _ = try o.appendNow(topic: "t", count: 1, unstored: 2) { _, _ in [] }
        }
        #expect(try Outbox(path: path, clock: testClock).countsNow() == Outbox.Counts(pending: 2, nextSeq: 3, dropped: 0, unstored: 5, epoch: testEpoch))
    }
}
