// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).
//
// A task's wait on an fd: the selector's readiness (Selector.swift) tied to wait slots, and
// the errors a task sees.

import Glibc

extension KernelExecutor {
    /// Registers a wait for `fd`; nil if it is ready already (an edge came while nobody
    /// waited), else the slot to `park` in. Synchronous, so `readable` is one async frame.
    func prepareFD(_ fd: Int32, write: Bool) throws -> Int32? {
        do {
            if try selector.arm(fd, write: write) { return nil }
        } catch {
            let operation = write ? "writable" : "readable"
            switch error {
            case .badDescriptor: throw KernelError.badDescriptor(fd: fd, operation: operation)
            case .busy(let s): throw KernelError.descriptorBusy(fd: fd, write: write, waiter: tasks[slots[s].task].stats.name)
            case .notPollable: throw KernelError.notPollable(fd: fd)
            case .system(let errno): throw KernelError.system(call: "epoll_ctl", errno: errno, detail: "fd \(fd)")
            }
        }
        let s = prepare(.fd, write ? "writable" : "readable")
        slots[s].fd = fd
        selector.setWaiter(fd, write: write, s)
        return s
    }

    /// Wakes the waiters of `fd` with `KernelError.closed`, removes it from the epoll set and
    /// closes it.
    func close(_ fd: Int32) -> Int32 {
        forget(fd)
        return Glibc.close(fd)
    }

    /// Wakes the waiters of `fd` with `KernelError.closed` and removes it from the epoll set.
    func forget(_ fd: Int32) {
        let (reader, writer) = selector.forget(fd)
        if reader != Selector.none { wake(reader, throwing: KernelError.closed(fd: fd)) }
        if writer != Selector.none { wake(writer, throwing: KernelError.closed(fd: fd)) }
    }
}
