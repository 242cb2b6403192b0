import Board
import Glibc
import Kernel

/// The one read and write loop over a non-blocking descriptor (a serial port, a socket): EINTR
/// retried; EAGAIN waits on the kernel until the descriptor is ready; a reader that keeps
/// finding data yields its share (`ReadShare`), so a flood never starves the other tasks; any
/// other errno goes to the caller's `failure`, which names the device.
@KernelActor
enum NonBlocking {
    /// Calls `call` (read(2), recv(2) of up to `capacity` bytes) until it returns bytes or 0
    /// (end of stream), waiting for readiness between tries. `check` runs before each try (a
    /// closed port throws). `share` is the descriptor's own `ReadShare`, kept by its owner.
    ///
    /// A read that returned less than `capacity` emptied the descriptor, so the next one waits
    /// for readiness first rather than trying a read bound to fail with EAGAIN: the kernel's
    /// epoll is edge-triggered, and reports data that arrived since (or at once, if it already
    /// has). A broker's acks cost two system calls per batch instead of three. Unless the kernel
    /// says data might be there (`mightBeReadable`: readiness came meanwhile, or it stopped
    /// watching while nobody waited): a reader that gathers bytes between reads (GPSReader)
    /// reads at once after its pause, and its port stays out of epoll's interest while the
    /// bytes keep coming (no wake-up for them, no epoll_ctl to watch again).
    static func read(_ fd: () -> Int32, capacity: Int, share: ReadShareCounter, check: () throws -> Void,
                     failure: (Int32) -> any Error, _ call: (Int32) -> Int) async throws -> Int {
        if share.drained {
            share.drained = false
            try check()
            if !mightBeReadable(fd()) {
                share.value.waited()
                try await readable(fd())
            }
        }
        while true {
            try check()
            let n = call(fd())
            if n > 0, share.value.spent(n) { try await yield() }
            if n >= 0 {
                share.drained = n > 0 && n < capacity
                return n
            }
            let e = errno
            guard e == EAGAIN || e == EINTR else { throw failure(e) }
            share.value.waited()
            try await readable(fd())
        }
    }

    /// Sends all of `bytes` with `call` (write(2), send(2)) from an offset, waiting while the
    /// descriptor cannot take more.
    static func write(_ bytes: [UInt8], _ fd: () -> Int32, check: () throws -> Void,
                      failure: (Int32) -> any Error, _ call: (Int32, UnsafeRawBufferPointer) -> Int) async throws {
        var off = 0
        while off < bytes.count {
            try check()
            let n = bytes.withUnsafeBytes { call(fd(), UnsafeRawBufferPointer(rebasing: $0[off...])) }
            if n > 0 { off += n; continue }
            let e = errno
            guard n < 0, e == EAGAIN || e == EINTR else { throw failure(n == 0 ? EIO : e) }
            try await writable(fd())
        }
    }

    /// setsockopt(2) or getsockopt(2)'s result checked: an error names the call and the peer.
    static func check(_ r: Int32, _ call: String, _ what: String) throws {
        if r != 0 { throw BoardError.system(call: call, errno: errno, what: what) }
    }
}

/// A descriptor's `ReadShare`, held by reference so the read loop can count across its awaits.
@KernelActor
final class ReadShareCounter {
    var value = ReadShare()
    /// The last read returned less than it asked for: the descriptor was empty then.
    var drained = false
    init() {}
}
