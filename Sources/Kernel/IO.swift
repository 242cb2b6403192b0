// File descriptor readiness through the kernel's one epoll set.

/// Waits until `fd` is readable (data, end of file, hang-up or error). The fd must be
/// non-blocking: readiness can be stale (already consumed), so read until EAGAIN and wait again.
/// One task may wait per direction. The fd stays in the kernel's epoll set until
/// `closeDescriptor(fd)` or the end of the run: close watched fds with `closeDescriptor`, or
/// call `forgetDescriptor(fd)` before closing them another way, or a reused fd number would be
/// missed.
@KernelActor
public func readable(_ fd: Int32) async throws {
    let k = KernelExecutor.shared
    if let s = try k.prepareFD(fd, write: false) { try await k.park(s) }
}

/// Whether a read of `fd` might find data now, without waiting or a system call: false only
/// when the kernel watches `fd` for reading and no readiness came since its last wait (a read
/// would say EAGAIN: wait with `readable`); true otherwise (readiness came, or the kernel has
/// not watched `fd` since: try the read, and wait with `readable` if it says EAGAIN).
@KernelActor
public func mightBeReadable(_ fd: Int32) -> Bool {
    KernelExecutor.shared.selector.mightRead(fd)
}

/// Waits until `fd` is writable (or has failed).
@KernelActor
public func writable(_ fd: Int32) async throws {
    let k = KernelExecutor.shared
    if let s = try k.prepareFD(fd, write: true) { try await k.park(s) }
}

/// Closes `fd`: tasks waiting on it wake with `KernelError.closed`, and it leaves the epoll set.
/// Close watched descriptors through this, not `Glibc.close`, or their waiters wait forever.
@KernelActor
@discardableResult
public func closeDescriptor(_ fd: Int32) -> Int32 {
    KernelExecutor.shared.close(fd)
}

/// Removes `fd` from the kernel's epoll set (waiters wake with `KernelError.closed`) without
/// closing it: for code that closes watched descriptors itself.
@KernelActor
public func forgetDescriptor(_ fd: Int32) {
    KernelExecutor.shared.forget(fd)
}

/// A reader's fair share of the kernel: a task that reads a descriptor until EAGAIN never
/// waits while data keeps coming (a UART flood, a broker sending without pause), and
/// cooperative scheduling lets it starve every other task. A reader counts what it read here
/// and yields when `spent` says so: one wake-up then costs the others at most `limit` bytes of
/// work. Waiting for readiness (`waited()`) starts a new share.
///
///     let n = read(fd, ...)
///     if n > 0, share.spent(n) { try await yield() }
public struct ReadShare: Sendable {
    public let limit: Int
    private var used = 0

    public init(limit: Int = 64 * 1024) { self.limit = limit }

    /// Counts `bytes` read; true (and a new share) when the reader should yield now.
    public mutating func spent(_ bytes: Int) -> Bool {
        used += bytes
        guard used >= limit else { return false }
        used = 0
        return true
    }

    /// The reader is about to wait for readiness: the other tasks get their turn anyway.
    public mutating func waited() { used = 0 }
}
