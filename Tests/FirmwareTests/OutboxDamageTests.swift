import Firmware
import Glibc
import KernelTestSupport
import Testing

/// An outbox as a device leaves it at a clean stop: 400 snapshot-like messages stored, the
/// first 150 delivered (100 of them collected), 250 waiting, the relay kept on; epoch `testEpoch`.
func filledOutbox(_ path: String) throws {
    let o = try Outbox(path: path, clock: testClock, seqMarker: Snapshot.seqMarker)
    let pad = String(repeating: "x", count: 500)
    _ = try o.appendNow(topic: "firmloop/sim/snapshot", count: 400) { seq, _ in Array(#"{"device":"sim","seq":\#(seq),"pad":"\#(pad)"}"#.utf8) }
    try o.removeNow(Array(1...150))
    try o.collectNow(limit: 100)
    try o.outputs.saveNow([("relay", 1)])
    #expect(try o.countsNow().pending == 250 && o.countsNow().nextSeq == 401)
}

/// A day after `testEpoch`: when the damage is found.
let laterClock: @Sendable () -> Int64 = { (testEpoch + 86_400) * 1_000_000_000 }

@Suite struct OutboxDamageTests {
    @Test(arguments: OutboxDamage.allCases)
    func aDamagedOutboxIsPutAsideAndAFreshOneGoesOnWithTheNumbering(_ damage: OutboxDamage) throws {
        let dir = temporaryDirectory("firmloop-damage")
        let path = dir + "/dev.outbox"
        try filledOutbox(path)
        try damage.apply(to: path)
        let damaged = try #require(fileBytes(path))

        let o = try Outbox(path: path, clock: laterClock, seqMarker: Snapshot.seqMarker)
        let d = try #require(o.damageNow().first, "no damage recorded for \(damage)")
        #expect(o.damageNow().count == 1)
        // Kept under its new name, byte for byte as the card left it; the fresh file is whole.
        #expect(d.keptAs == path + ".damaged-20260102T000000Z")
        #expect(fileBytes(d.keptAs) == damaged, "the damaged copy was changed")
        #expect(files(in: dir, prefix: "dev.outbox.damaged-") == ["dev.outbox.damaged-20260102T000000Z"])
        #expect(try o.integrityCheckNow() == "ok")
        #expect(d.error.contains(damage == .notADatabase || damage == .headerOverwritten ? "file is not a database" : "malformed"), "\(d.error)")

        let c = try o.countsNow()
        #expect(c.pending == 0 && c.damaged == 1)
        if damage.metaReadable {
            // Numbering, epoch, loss and the kept outputs as they were.
            #expect(c.nextSeq == 401 && c.epoch == testEpoch && !d.restarted)
            #expect(d.lost == 250 && c.lost == 250)
            #expect(try o.outputs.valuesNow() == ["relay": 1])
            #expect(d.description.contains("250 stored messages lost; numbering goes on from 401"), "\(d)")
        } else if damage.seqFound {
            // SQLite reads nothing, but the payloads still say how far the numbers went: a new
            // epoch (its own could not be read), the numbers going on.
            #expect(c.nextSeq == 401 && c.epoch > testEpoch && !d.restarted)
            #expect(d.lost == nil && c.lost == 0)
            #expect(d.description.contains("how many stored messages were lost could not be read; numbering goes on from 401"), "\(d)")
        } else {
            // Nothing readable: from 1 in a new epoch, later than any the old file can have had.
            #expect(c.nextSeq == 1 && d.restarted && d.lost == nil)
            #expect(c.epoch > testEpoch && c.epoch == d.epoch)
            #expect(d.description.contains("nothing readable: numbering starts again at 1 (epoch \(c.epoch))"), "\(d)")
        }
        let next = c.nextSeq
        #expect(try o.appendNow(topic: "t", payload: []) == next)
    }

    /// The record outlives restarts until acknowledged; a restart does not damage anything again.
    @Test func theDamageIsKeptUntilAcknowledgedAndAcrossRestarts() throws {
        let dir = temporaryDirectory("firmloop-damage")
        let path = dir + "/dev.outbox"
        try filledOutbox(path)
        try OutboxDamage.truncatedMidFile.apply(to: path)
        do { _ = try Outbox(path: path, clock: laterClock) }
        do {
            let again = try Outbox(path: path, clock: laterClock)
            #expect(again.damageNow().count == 1 && again.damageNow().first?.lost == 250)
            #expect(try again.countsNow().damaged == 1)
            try again.acknowledgeDamageNow()
            #expect(again.damageNow().isEmpty)
        }
        let third = try Outbox(path: path, clock: laterClock)
        #expect(try third.damageNow().isEmpty && third.countsNow().nextSeq == 401)
        #expect(files(in: dir, prefix: "dev.outbox.damaged-").count == 1)
    }

    /// Damaged again and again: the newest `keptDamagedCopies` copies stay, and each new file
    /// carries the earlier unacknowledged records and the loss so far.
    @Test func onlyTheNewestDamagedCopiesAreKept() throws {
        let dir = temporaryDirectory("firmloop-damage")
        let path = dir + "/dev.outbox"
        try filledOutbox(path)
        for n in 1...5 {
            try OutboxDamage.aPageZeroed.apply(to: path)
            let clock: @Sendable () -> Int64 = { (testEpoch + Int64(n) * 3600) * 1_000_000_000 }
            let o = try Outbox(path: path, clock: clock, seqMarker: Snapshot.seqMarker)
            #expect(o.damageNow().count == min(n, Outbox.keptDamageRecords), "round \(n)")
            #expect(try o.countsNow().damaged == Int64(n))
            // Refill so the next round has pending rows to damage.
            _ = try o.appendNow(topic: "t", count: 300) { seq, _ in Array(#"{"seq":\#(seq),"pad":"\#(String(repeating: "y", count: 500))"}"#.utf8) }
        }
        let kept = files(in: dir, prefix: "dev.outbox.damaged-").filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }
        #expect(kept == ["dev.outbox.damaged-20260101T030000Z", "dev.outbox.damaged-20260101T040000Z", "dev.outbox.damaged-20260101T050000Z"],
                "\(kept)")
        #expect(Outbox.keptDamagedCopies == 3)
        let o = try Outbox(path: path)
        #expect(try o.countsNow().lost == 250 + 4 * 300 && o.countsNow().nextSeq == 401 + 5 * 300)
    }

    /// Damage found while running (a page read from the card for the first time is bad): the
    /// call that found it is done again on a fresh file, numbering going on from the counts in
    /// memory; what was pending is counted lost.
    @Test func damageFoundAtRunTimeIsReplacedAndTheCallDoneAgain() throws {
        let dir = temporaryDirectory("firmloop-damage")
        let path = dir + "/dev.outbox"
        let o = try Outbox(path: path, clock: laterClock, seqMarker: Snapshot.seqMarker)
        let pad = String(repeating: "z", count: 900)
        // Far more than the page cache (512 KiB): the oldest pages are read from the file again.
        _ = try o.appendNow(topic: "t", count: 4000) { seq, _ in Array(#"{"seq":\#(seq),"pad":"\#(pad)"}"#.utf8) }
        // The next commit starts the write-ahead log again (it was checkpointed): from here the
        // oldest pages are read from the database file.
        #expect(try o.appendNow(topic: "t", payload: []) == 4001)
        // The first half of the file zeroed under the running outbox (past the table roots).
        let fd = open(path, O_RDWR)
        try #require(fd >= 0)
        let size = Int(lseek(fd, 0, SEEK_END))
        let zeros = [UInt8](repeating: 0, count: OutboxDamage.page)
        for page in 8..<(size / OutboxDamage.page / 2) { _ = pwrite(fd, zeros, zeros.count, off_t(page * OutboxDamage.page)) }
        close(fd)

        #expect(try o.pendingNow(after: 0, limit: 10).isEmpty)   // read the oldest: damaged, replaced, read again
        let d = try #require(o.damageNow().first)
        #expect(d.lost == 4001 && d.nextSeq == 4002 && !d.restarted)
        #expect(access(d.keptAs, F_OK) == 0)
        let c = try o.countsNow()
        #expect(c.nextSeq == 4002 && c.pending == 0 && c.lost == 4001 && c.damaged == 1 && c.epoch == testEpoch + 86_400)
        #expect(try o.appendNow(topic: "t", payload: []) == 4002)
        #expect(try o.integrityCheckNow() == "ok")
    }

    /// What cannot be put aside stays an error naming the file and why (here: a directory
    /// the firmware may not write).
    @Test func aDamagedOutboxThatCannotBePutAsideIsAnErrorThatSaysSo() throws {
        let dir = temporaryDirectory("firmloop-damage")
        let path = dir + "/dev.outbox"
        try filledOutbox(path)
        try OutboxDamage.notADatabase.apply(to: path)
        // No renames in the directory: its mode for a user, its immutable flag for root.
        if getuid() == 0 {
            try #require(system("chattr +i '\(dir)' 2>/dev/null") == 0, "chattr +i \(dir): needs e2fsprogs and a file system with the flag")
        } else {
            chmod(dir, 0o500)
        }
        defer { _ = getuid() == 0 ? system("chattr -i '\(dir)'") : chmod(dir, 0o700) }
        do { _ = try Outbox(path: path); Issue.record("opened") } catch {
            #expect("\(error)".contains("outbox \(path): ") && "\(error)".contains("cannot be put aside"), "\(error)")
        }
    }
}
