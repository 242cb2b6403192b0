import Synchronization

/// A flag any thread may raise to wake a kernel task (MicroPython's ThreadSafeFlag): a worker,
/// a C callback, a POSIX signal handler thread. `wait()` returns once per raise (several raises
/// before a wait count as one) and clears the flag.
// safety: `flag` is atomic and the only state other threads touch (`raise`); `waiter` is read
// and written on the kernel thread only (`wait` is @KernelActor, and the core clears it when it
// wakes the waiter there).
public final class Signal: @unchecked Sendable {
    let flag = Atomic<Bool>(false)
    /// Slot of the waiting task (kernel thread only).
    var waiter: Int32 = -1

    public init() {}

    /// Wakes the waiting task, from any thread. Never blocks; allocates nothing on the kernel thread.
    public func raise() {
        if flag.exchange(true, ordering: .acquiringAndReleasing) { return }
        KernelExecutor.shared.signalRaised(self)
    }

    /// Waits until raised (returns at once if it already was), then clears the flag. One task
    /// may wait at a time.
    @KernelActor
    public func wait() async throws {
        if flag.exchange(false, ordering: .acquiringAndReleasing) { return }
        let k = KernelExecutor.shared
        precondition(waiter < 0, "Signal.wait(): task '\(k.tasks[k.slots[waiter].task].stats.name)' already waits on this signal")
        let s = k.prepare(.signal, "Signal.wait")
        // safety: unretained: the waiting task holds the signal (it called `wait` on it) until
        // the core wakes it and clears the slot.
        k.slots[s].signal = Unmanaged.passUnretained(self)
        waiter = s
        try await k.park(s)
    }
}

extension KernelExecutor {
    /// A signal was raised: on the kernel thread its waiter wakes now; from another thread,
    /// through the inbox.
    func signalRaised(_ s: Signal) {
        if onKernelThread {
            if s.waiter >= 0 && s.flag.exchange(false, ordering: .acquiringAndReleasing) { wake(s.waiter) }
        } else {
            inbox.post { $0.signals.append(s) }
        }
    }
}
