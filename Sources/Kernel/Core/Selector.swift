// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).
//
// The selector: one epoll set, edge-triggered, and the fd table. It knows no tasks: a waiter
// is a token (the executor's wait slot), as a mio `Token` is, and readiness is handed back as
// tokens to wake, after `poll` returns (as mio's `Events`). In the style of mio's `sys/unix/selector/epoll.rs`.
//
// An fd joins the epoll set on its first wait and stays, edge-triggered, until `forget` or the
// end of the run: no epoll_ctl per wait (a one-shot re-arm would cost two extra syscalls per
// ping-pong round trip). An edge that comes while nobody waits is kept as a ready flag, so the
// next wait returns at once and no edge is lost; at worst a wait returns on readiness already
// consumed and the caller's read says EAGAIN.
//
// Once a direction is flagged ready with nobody waiting, more edges say nothing new: that
// direction leaves the epoll interest (one epoll_ctl) until a wait finds the flag clear and
// puts it back (one more; epoll then reports readiness that came meanwhile at once). A serial
// port read in gathered bursts (GPSReader) or a socket's send-buffer edges that no writer waits
// for no longer wake the process at every edge (a tty's every 16 bytes, issue 28). A busy fd
// with a waiter, the ping-pong case, never takes this path.

import CSystem
import Glibc

struct Selector {
    /// The token of "no waiter".
    static let none: Int32 = -1

    struct Entry {
        var reader: Int32 = Selector.none
        var writer: Int32 = Selector.none
        var registered = false
        var readReady = false
        var writeReady = false
        /// That direction is out of the epoll interest (flagged ready, nobody waiting).
        var quietRead = false
        var quietWrite = false

        var events: UInt32 {
            fl_EPOLLET | (quietRead ? 0 : fl_EPOLLIN | fl_EPOLLRDHUP) | (quietWrite ? 0 : fl_EPOLLOUT)
        }
    }

    /// Why a wait on an fd cannot be registered.
    enum Refusal: Error {
        /// Not an open descriptor.
        case badDescriptor
        /// Another waiter holds that direction (its token).
        case busy(Int32)
        /// epoll refuses it (a regular file).
        case notPollable
        case system(errno: Int32)
    }

    private let epfd: Int32
    /// The one fd that is not in the table: its readiness is reported as `wakerReady`.
    private let waker: Int32
    private static let wakerTag = UInt64.max
    private var fds: [Entry] = []
    private let eventBuffer = UnsafeMutablePointer<UInt32>.allocate(capacity: 64)
    private let tagBuffer = UnsafeMutablePointer<UInt64>.allocate(capacity: 64)
    /// The tokens the last `poll` found ready, in event order (a reader and a writer per event
    /// at most).
    private let wokenBuffer = UnsafeMutablePointer<Int32>.allocate(capacity: 128)

    /// A selector watching `waker` (the inbox's eventfd), level by level, for the life of the
    /// process (the kernel's executor is never freed).
    init(waker: Int32) {
        let e = fl_epoll_create()
        precondition(e >= 0, "firmloop kernel: cannot create epoll (errno \(-e))")
        epfd = e
        self.waker = waker
        precondition(fl_epoll_add(epfd, waker, fl_EPOLLIN, Selector.wakerTag) == 0)
        fds.reserveCapacity(64)
    }

    /// Arms a wait for one direction of `fd`: true if it is ready already (an edge came while
    /// nobody waited: consumed, the caller need not wait), false if the caller should wait and
    /// then `setWaiter`.
    @inline(__always)
    mutating func arm(_ fd: Int32, write: Bool) throws(Refusal) -> Bool {
        // The table is indexed by fd: check a new number is open before growing it that far.
        guard fd >= 0, Int(fd) < fds.count || fcntl(fd, F_GETFD) >= 0 else { throw .badDescriptor }
        let i = Int(fd)
        while fds.count <= i { fds.append(Entry()) }
        let busy = write ? fds[i].writer : fds[i].reader
        if busy != Selector.none { throw .busy(busy) }
        if !fds[i].registered { try register(fd) }
        if write ? fds[i].writeReady : fds[i].readReady {
            if write { fds[i].writeReady = false } else { fds[i].readReady = false }
            return true
        }
        if write ? fds[i].quietWrite : fds[i].quietRead {
            if write { fds[i].quietWrite = false } else { fds[i].quietRead = false }
            try update(fd)
        }
        return false
    }

    /// Whether a read of `fd` might find data, without waiting: false only while the selector
    /// watches its reading and no edge came since the last wait (the read would say EAGAIN);
    /// true if an edge came (consumed, as `arm` would) or the direction is not watched (never
    /// waited on, or quiet: what came meanwhile is unknown, so try the read). Changes no interest.
    mutating func mightRead(_ fd: Int32) -> Bool {
        let i = Int(fd)
        guard fd >= 0, i < fds.count, fds[i].registered else { return true }
        if fds[i].readReady {
            fds[i].readReady = false
            return true
        }
        return fds[i].quietRead
    }

    /// `token` waits for `fd` (after `arm` said it is not ready).
    @inline(__always)
    mutating func setWaiter(_ fd: Int32, write: Bool, _ token: Int32) {
        if write { fds[Int(fd)].writer = token } else { fds[Int(fd)].reader = token }
    }

    /// `token` no longer waits for `fd` (woken, cancelled, timed out).
    mutating func clearWaiter(_ fd: Int32, _ token: Int32) {
        let i = Int(fd)
        guard i >= 0 && i < fds.count else { return }
        if fds[i].reader == token { fds[i].reader = Selector.none }
        if fds[i].writer == token { fds[i].writer = Selector.none }
    }

    private mutating func register(_ fd: Int32) throws(Refusal) {
        let events = Entry().events
        var r = fl_epoll_add(epfd, fd, events, UInt64(fd))
        if r == -EEXIST { r = fl_epoll_mod(epfd, fd, events, UInt64(fd)) }
        try Self.check(r)
        fds[Int(fd)].registered = true
    }

    /// Tells epoll the fd's interest as its entry has it now.
    private func update(_ fd: Int32) throws(Refusal) {
        try Self.check(fl_epoll_mod(epfd, fd, fds[Int(fd)].events, UInt64(fd)))
    }

    private static func check(_ r: Int32) throws(Refusal) {
        switch -r {
        case 0: return
        case EBADF: throw .badDescriptor
        case EPERM: throw .notPollable
        default: throw .system(errno: -r)
        }
    }

    /// Takes a direction that is flagged ready with nobody waiting out of the interest. If
    /// epoll refuses (the fd was closed behind the kernel's back), nothing changed: the next
    /// wait reports it.
    private mutating func quiet(_ fd: Int32, write: Bool) {
        let i = Int(fd)
        if write ? fds[i].quietWrite : fds[i].quietRead { return }
        if write { fds[i].quietWrite = true } else { fds[i].quietRead = true }
        if (try? update(fd)) == nil {
            if write { fds[i].quietWrite = false } else { fds[i].quietRead = false }
        }
    }

    /// Waits up to `timeout` ns (-1: for ever; 0: not at all) for readiness; returns how many
    /// waiters' fds became ready, their tokens in `woken(0..<n)`, for the caller to wake once
    /// this returns (waking detaches a waiter from the table: not while `poll` holds it). The
    /// waker's readiness is not reported: the caller looks at its inbox anyway.
    @inline(__always)
    mutating func poll(_ timeout: Int64) -> Int {
        let n = fl_epoll_wait(epfd, eventBuffer, tagBuffer, 64, timeout, 1)
        precondition(n >= 0, "firmloop kernel: \(fl_epoll_uses_pwait2() != 0 ? "epoll_pwait2" : "epoll_wait") failed (errno \(-n))")
        var count = 0
        for i in 0..<Int(n) where tagBuffer[i] != Selector.wakerTag {
            ready(Int32(truncatingIfNeeded: tagBuffer[i]), eventBuffer[i], &count)
        }
        return count
    }

    /// The `i`th token the last `poll` found ready.
    @inline(__always) func woken(_ i: Int) -> Int32 { wokenBuffer[i] }

    @inline(__always)
    private mutating func ready(_ fd: Int32, _ events: UInt32, _ count: inout Int) {
        let i = Int(fd)
        guard fd >= 0, i < fds.count, fds[i].registered else { return }
        if events & (fl_EPOLLIN | fl_EPOLLHUP | fl_EPOLLERR | fl_EPOLLRDHUP) != 0 {
            let r = fds[i].reader
            if r != Selector.none { wokenBuffer[count] = r; count += 1 } else { fds[i].readReady = true; quiet(fd, write: false) }
        }
        if events & (fl_EPOLLOUT | fl_EPOLLHUP | fl_EPOLLERR) != 0 {
            let w = fds[i].writer
            if w != Selector.none { wokenBuffer[count] = w; count += 1 } else { fds[i].writeReady = true; quiet(fd, write: true) }
        }
    }

    /// Removes `fd` from the epoll set and the table; returns its waiters (to wake with an
    /// error: the caller's business).
    mutating func forget(_ fd: Int32) -> (reader: Int32, writer: Int32) {
        let i = Int(fd)
        guard fd >= 0 && i < fds.count else { return (Selector.none, Selector.none) }
        let e = fds[i]
        if e.registered { _ = fl_epoll_del(epfd, fd) }
        fds[i] = Entry()
        return (e.reader, e.writer)
    }

    /// Frees the buffers and closes the epoll set: for a selector made apart from the kernel's
    /// (a test); the kernel's lives as long as the process.
    func dispose() {
        eventBuffer.deallocate()
        tagBuffer.deallocate()
        wokenBuffer.deallocate()
        _ = Glibc.close(epfd)
    }

    /// Drops every registration (the run is over; its fds may be closed and their numbers reused).
    mutating func forgetAll() {
        for fd in fds.indices where fds[fd].registered { _ = fl_epoll_del(epfd, Int32(fd)) }
        fds.removeAll(keepingCapacity: true)
    }
}
