import CSystem
import Glibc
import Testing
@testable import Kernel

/// The selector takes a direction that is ready with nobody waiting out of epoll's interest
/// (issue 28: a tty read in gathered bursts woke the process at every 16 bytes), and puts it
/// back when a wait finds it drained; nothing is missed either way. Checked in the kernel's own
/// view of the epoll set (/proc/self/fdinfo).
@Suite struct SelectorTests {
    /// epoll's interest mask for `fd` in any epoll set of this process.
    func interest(_ fd: Int32) -> UInt32? {
        guard let dir = opendir("/proc/self/fdinfo") else { return nil }
        defer { closedir(dir) }
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let f = fopen("/proc/self/fdinfo/\(name)", "r") else { continue }
            defer { fclose(f) }
            var line = [CChar](repeating: 0, count: 256)
            while fgets(&line, 256, f) != nil {
                let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let words = s.split(separator: " ", omittingEmptySubsequences: true)
                if words.count >= 4, words[0] == "tfd:", Int32(words[1]) == fd, words[2] == "events:" { return UInt32(words[3], radix: 16) }
            }
        }
        return nil
    }

    @Test func aReadyDirectionNobodyWaitsForLeavesTheInterestUntilAWaitNeedsIt() throws {
        let waker = fl_eventfd_create()
        defer { close(waker) }
        var sel = Selector(waker: waker)
        let (a, b) = socketPair()
        var bOpen = true
        defer { close(a); if bOpen { close(b) }; sel.forgetAll(); sel.dispose() }
        let inBits = fl_EPOLLIN | fl_EPOLLRDHUP
        #expect(try sel.arm(a, write: false) == false)   // registers; nothing to read yet
        #expect(interest(a).map { $0 & inBits } == inBits)
        var x: UInt8 = 0x78
        #expect(write(b, &x, 1) == 1)
        #expect(sel.poll(0) == 0)                         // ready, nobody waits: flagged...
        #expect(interest(a).map { $0 & inBits } == 0)     // ...and out of the interest
        #expect(interest(a).map { $0 & fl_EPOLLOUT } == 0)   // its send side too (writable, no writer)
        #expect(write(b, &x, 1) == 1)
        #expect(sel.poll(0) == 0)
        #expect(try sel.arm(a, write: false) == true)     // the flag: ready at once
        var buf = [UInt8](repeating: 0, count: 16)
        #expect(read(a, &buf, 16) == 2)
        #expect(read(a, &buf, 16) == -1 && errno == EAGAIN)
        #expect(try sel.arm(a, write: false) == false)    // drained: the interest is back
        #expect(interest(a).map { $0 & inBits } == inBits)
        sel.setWaiter(a, write: false, 5)
        #expect(write(b, &x, 1) == 1)
        #expect(sel.poll(0) == 1 && sel.woken(0) == 5)    // a waiter is woken as before
        sel.clearWaiter(a, 5)
        #expect(read(a, &buf, 16) == 1)
        // The peer's close while nobody waits: flagged, and the next wait sees it at once.
        #expect(try sel.arm(a, write: false) == false)
        close(b); bOpen = false
        _ = sel.poll(0)
        #expect(try sel.arm(a, write: false) == true)
        #expect(read(a, &buf, 16) == 0)
    }

    /// `mightRead` (Kernel.mightBeReadable): a reader that paused asks before it waits. False
    /// only while watched with no edge since; an edge says true once; a quiet direction says
    /// true and stays quiet (bytes that keep coming wake nobody), until a wait puts it back.
    @Test func mightReadTellsWhetherAReadCouldFindDataWithoutTouchingTheInterest() throws {
        let waker = fl_eventfd_create()
        defer { close(waker) }
        var sel = Selector(waker: waker)
        let (a, b) = socketPair()
        defer { close(a); close(b); sel.forgetAll(); sel.dispose() }
        let inBits = fl_EPOLLIN | fl_EPOLLRDHUP
        do { let r = sel.mightRead(a); #expect(r, "never watched: unknown, try the read") }
        #expect(try sel.arm(a, write: false) == false)
        do { let r = sel.mightRead(a); #expect(!r, "watched, no edge: a read would say EAGAIN") }
        var x: UInt8 = 0x78
        var buf = [UInt8](repeating: 0, count: 16)
        #expect(write(b, &x, 1) == 1)
        #expect(sel.poll(0) == 0)                         // the edge, nobody waiting: flagged, quiet
        #expect(interest(a).map { $0 & inBits } == 0)
        do { let r = sel.mightRead(a); #expect(r) }
        #expect(read(a, &buf, 16) == 1)
        #expect(write(b, &x, 1) == 1)
        #expect(sel.poll(0) == 0, "quiet: the next bytes wake nobody")
        do { let r = sel.mightRead(a); #expect(r, "quiet: unknown, try the read") }
        #expect(interest(a).map { $0 & inBits } == 0, "asking changes no interest")
        #expect(read(a, &buf, 16) == 1)
        #expect(read(a, &buf, 16) == -1 && errno == EAGAIN)
        #expect(try sel.arm(a, write: false) == false)    // the EAGAIN's wait: watched again
        #expect(interest(a).map { $0 & inBits } == inBits)
        do { let r = sel.mightRead(a); #expect(!r) }
        sel.setWaiter(a, write: false, 3)
        #expect(write(b, &x, 1) == 1)
        #expect(sel.poll(0) == 1 && sel.woken(0) == 3)
        sel.clearWaiter(a, 3)
    }
}
