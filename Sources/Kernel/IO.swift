// File descriptor readiness through the kernel's one epoll set.

/// Waits until `fd` is readable (data, end of file, hang-up or error). The fd must be
/// non-blocking for the read that follows to be safe. One task may wait per direction.
@KernelActor
public func readable(_ fd: Int32) async throws {
    try await KernelExecutor.shared.waitFD(fd, write: false)
}

/// Waits until `fd` is writable (or has failed).
@KernelActor
public func writable(_ fd: Int32) async throws {
    try await KernelExecutor.shared.waitFD(fd, write: true)
}

/// Closes `fd`: tasks waiting on it wake with `KernelError.closed`, and it leaves the epoll set.
/// Close watched descriptors through this, not `Glibc.close`, or their waiters wait forever.
@KernelActor
@discardableResult
public func closeDescriptor(_ fd: Int32) -> Int32 {
    KernelExecutor.shared.close(fd)
}
