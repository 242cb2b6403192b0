import Board
import Firmware
import Glibc
import Kernel
import KernelTestSupport
import LinuxBoard
import SimBoard
import SimWorld
import Testing

/// Faults a device left in a field meets, on real parts: a USB GPS unplugged and plugged back
/// (a pty whose path is a link, re-pointed as udev re-creates a node), and a disk that fills up
/// (a 1 MiB tmpfs). Each must be visible in the snapshots and must lose nothing.
@Suite(.serialized) struct FieldFaultTests {
    static let epochs = UARTSourceConfig.nmeaEpochs(Array((readFile("\(repositoryRoot)/boards/nmea/neo-m8n.log") ?? "").utf8))

    /// The last stored snapshot's JSON.
    @KernelActor static func lastSnapshot(_ box: Outbox) throws -> String? {
        try box.pendingNow(limit: Int.max).last.map { String(decoding: $0.payload, as: UTF8.self) }
    }

    /// Polls `condition` on the kernel every 20 ms for at most `seconds`.
    @KernelActor static func until(_ seconds: Double, _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = Kernel.now + Int64(seconds * 1e9)
        while Kernel.now < deadline {
            if try condition() { return true }
            try await sleep(ms: 20)
        }
        return try condition()
    }

    struct Unplugged: Sendable {
        var fixBefore: String?, fixAfter: String?
        var faultSeen = false, faultInSnapshot = false, cleared = false
        var faultError = "", snapshotSince = "", since = ""
        var reopens = 0
        var clearedAfterMs: Int64 = 0
        var log: [String] = []
    }

    /// 16.3: a GPS port that went away was never reopened, and no snapshot said so.
    @Test func aGPSUnpluggedAndPluggedBackAtTheSamePathFlowsAgainWithoutARestart() throws {
        try #require(Self.epochs.count >= 12)
        let dir = temporaryDirectory("firmloop-unplug")
        let link = dir + "/gps0"
        let (first, firstPath) = try openPTY()
        try #require(symlink(firstPath, link) == 0)
        let desc = try BoardDescription.parse("""
            {"board": "usb-gps", "roles": {"gps_uart": {"type": "serial", "device": "\(link)", "settings": "9600 8N1"}}}
            """, file: "usb-gps.json")
        let r = try kernelTest(virtual: false) { () async throws -> Unplugged in
            var r = Unplugged()
            let b = try LinuxHardware(desc)
            defer { b.close() }
            var fc = FirmwareConfig(deviceID: "usb-gps")
            fc.snapshotIntervalMilliseconds = 100
            let box = try Outbox(path: ":memory:", offloaded: false)
            let fw = Device(board: b, config: fc, outbox: box, network: nil)
            var log: [String] = []
            fw.onLog = { level, line in log.append("\(level) \(line)") }
            let run = spawn("firmware") { try await fw.run() }
            defer { run.cancel() }
            let gps = try #require(fw.component(GPSReader.self))
            for e in Self.epochs[0..<5] { try await writeAll(first, e) }
            _ = try await Self.until(10) { gps.fix?.time != nil }
            r.fixBefore = gps.fix?.time

            // Unplugged: the device goes and udev removes its node. (Left in place, the link's
            // /dev/pts/N could be handed to a pty another test opens meanwhile, and "reopen" it.)
            closeDescriptor(first)
            unlink(link)
            r.faultSeen = try await Self.until(5) { fw.faults["gps_uart"] != nil }
            r.faultError = fw.faults["gps_uart"]?.error ?? ""
            r.since = fw.faults["gps_uart"].map { iso8601(unixNanoseconds: $0.since) } ?? ""
            r.faultInSnapshot = try await Self.until(5) { try Self.lastSnapshot(box)?.contains(#""faults":[{"role":"gps_uart""#) == true }
            if let s = try Self.lastSnapshot(box), let at = s.firstRange(of: #""since":""#) {
                r.snapshotSince = String(s[at.upperBound...].prefix { $0 != "\"" })
            }
            // Three failed reopens (0.5 s, 1 s, 2 s apart): the next wait is 4 s, so a reopen
            // within a second of the replug was woken by the node appearing, not by the clock.
            try await sleep(ms: 3700)
            let (second, secondPath) = try openPTY()
            defer { closeDescriptor(second) }
            try #require(symlink(secondPath, link + ".new") == 0 && rename(link + ".new", link) == 0)
            let replugged = Kernel.now
            r.cleared = try await Self.until(5) { fw.faults["gps_uart"] == nil }
            r.clearedAfterMs = (Kernel.now - replugged) / 1_000_000
            for e in Self.epochs[5..<12] { try await writeAll(second, e) }
            _ = try await Self.until(10) { gps.fix?.time != r.fixBefore }
            r.fixAfter = gps.fix?.time
            r.reopens = gps.reopens
            r.log = log
            return r
        }
        #expect(r.fixBefore != nil)
        #expect(r.faultSeen && r.faultError.contains(link), "\(r.faultError)")
        #expect(r.faultInSnapshot, "no snapshot said gps_uart faulted")
        #expect(r.snapshotSince == r.since && !r.since.isEmpty, "snapshot since \(r.snapshotSince), fault since \(r.since)")
        #expect(r.cleared && r.clearedAfterMs < 1000, "cleared \(r.cleared) after \(r.clearedAfterMs) ms")
        #expect(r.fixAfter != nil && r.fixAfter != r.fixBefore, "\(String(describing: r.fixBefore)) -> \(String(describing: r.fixAfter))")
        #expect(r.reopens >= 4, "\(r.reopens) reopen attempts")
        // An unplugged GPS is an error (journalctl -p err finds it); its return is news.
        #expect(r.log.contains { $0.hasPrefix("error fault: gps_uart: ") } && r.log.contains { $0.hasPrefix("info fault cleared: gps_uart") }, "\(r.log)")
    }

    /// A 1 MiB tmpfs at a fresh directory (we are root here, as CI is); nil where mounting is not allowed.
    static func smallDisk() -> String? {
        let dir = temporaryDirectory("firmloop-full")
        return mount("tmpfs", dir, "tmpfs", 0, "size=1m") == 0 ? dir : nil
    }
    static let canMount: Bool = {
        guard let d = smallDisk() else { return false }
        umount2(d, Int32(MNT_DETACH))
        return true
    }()

    struct DiskFull: Sendable {
        var fault = "", unstoredWhileFull = 0, storedAfter = false
        var countsAfter = Outbox.Counts(pending: 0, nextSeq: 0, dropped: 0)
        var payloadAfter = "", seqs: [Int64] = []
        var walMost = 0
    }

    /// 16.6 and 16.7: snapshots that could not be stored while the disk was full were only
    /// counted in memory, and the error said "setting up". Now the fault names the operation,
    /// and the count reaches the disk with the next snapshot that fits.
    @Test(.enabled(if: canMount, "needs root to mount a 1 MiB tmpfs"))
    func aFullDiskIsAFaultAndWhatCouldNotBeStoredIsCountedOnDisk() throws {
        let dir = try #require(Self.smallDisk())
        defer { umount2(dir, Int32(MNT_DETACH)) }   // detached even if a descriptor is still open
        let filler = dir + "/filler"
        // Leave about 120 KiB for the outbox. Close-on-exec: other suites spawn programs in
        // parallel, and a child holding the filler would keep its space after the unlink.
        let fd = open(filler, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        let chunk = [UInt8](repeating: 0x55, count: 4096)
        for _ in 0..<((1024 - 120) / 4) { _ = write(fd, chunk, chunk.count) }
        close(fd)
        let path = dir + "/outbox.db"
        let d = try BoardDescription.parse(#"{"board": "t", "roles": {"relay": {"type": "output", "line": "GPIO1"}}}"#, file: "t.json")
        let r = try kernelTest { () async throws -> DiskFull in
            var r = DiskFull()
            let b = try SimHardware(d, seed: 1)
            b.start()
            var fc = FirmwareConfig(deviceID: "full")
            fc.snapshotIntervalMilliseconds = 100
            fc.taskTimes = false
            let box = try Outbox(path: path)
            let fw = Device(board: b, config: fc, outbox: box, network: nil)
            let run = spawn("firmware") { try await fw.run() }
            defer { run.cancel() }
            let snapshots = try #require(fw.component(Snapshots.self))
            // Bounded waits (virtual time): a broken run fails its expectations, never hangs.
            let deadline = Kernel.now + 600 * 1_000_000_000
            while snapshots.storeFailures < 5 && Kernel.now < deadline {
                try await sleep(ms: 100)
                r.walMost = max(r.walMost, fileSize(path + "-wal"))
            }
            r.fault = fw.faults["outbox"]?.error ?? ""
            r.unstoredWhileFull = fw.pipe.unstoredSinceStored
            unlink(filler)   // room again
            let taken = snapshots.taken
            while snapshots.taken < taken + 3 && Kernel.now < deadline + 600 * 1_000_000_000 { try await sleep(ms: 100) }
            r.storedAfter = fw.faults["outbox"] == nil
            r.countsAfter = try box.countsNow()
            let pending = try box.pendingNow(limit: Int.max)
            r.seqs = pending.map(\.seq)
            r.payloadAfter = pending.first { Snapshot.seq(in: $0.payload) == Int64(taken) + 1 }.map { String(decoding: $0.payload, as: UTF8.self) } ?? ""
            return r
        }
        #expect(r.fault.contains("storing a message") && r.fault.contains("database or disk is full"), "\(r.fault)")
        #expect(r.fault.hasPrefix("outbox \(path): "), "\(r.fault)")
        #expect(r.unstoredWhileFull >= 5)
        #expect(r.storedAfter)
        #expect(r.countsAfter.unstored == Int64(r.unstoredWhileFull), "\(r.countsAfter)")
        // The first snapshot stored after says how many were not, and that the outbox faulted.
        #expect(r.payloadAfter.contains(#""unstored":\#(r.unstoredWhileFull)"#), "\(r.payloadAfter)")
        #expect(r.payloadAfter.contains(#""faults":[{"role":"outbox","error":"outbox "#), "\(r.payloadAfter)")
        // Nothing stored was lost: numbering stayed contiguous through the failures.
        #expect(r.seqs == Array(1...(r.seqs.last ?? 0)))
        #expect(r.walMost <= Outbox.walLimitBytes + 64 * 1024, "WAL reached \(r.walMost) bytes")
    }
}
