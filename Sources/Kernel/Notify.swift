/// A wake-up for tasks that wait for some state to change, with an optional deadline (tokio's
/// `Notify`, a condition variable without the lock: between two awaits a task owns the state,
/// so there is no lock to hold). `notifyAll()` wakes every waiter; a waiter re-checks the state
/// it cares about, as with any condition variable. Waiting allocates nothing.
///
///     while buffer.isEmpty { try await dataArrived.wait() }
///
/// Device models use it: "wait until bytes arrive or until the next byte is due".
@KernelActor
public final class Notify {
    let waiters = WaitList()

    public nonisolated init() {}

    /// Waits until `notifyAll()` or until the kernel clock reads `deadline` (nanoseconds, see
    /// `Kernel.now`), whichever comes first. Returns without telling which: check the state.
    /// `tolerance`: how late the deadline may end the wait, as `sleep(until:tolerance:)`'s.
    public func wait(until deadline: Int64 = .max, tolerance: Int64 = 0) async throws {
        let k = KernelExecutor.shared
        if deadline <= k.now { return }
        let s = k.prepare(.list, "Notify.wait", deadline: deadline, tolerance: tolerance)
        k.append(s, to: waiters)
        try await k.park(s)
    }

    /// Wakes every task waiting now.
    public func notifyAll() {
        KernelExecutor.shared.wakeAll(waiters)
    }

    /// Tasks waiting now.
    public var waiting: Int { waiters.count }
}
