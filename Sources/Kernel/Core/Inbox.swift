// ⚠️ Unsafe core: the one part of the executor other threads touch (see README.md here).
//
// The cross-thread inbox: what other threads hand the kernel (jobs a foreign thread enqueued,
// cancellations, raised signals, finished offloads), under one lock, and an eventfd written
// when the inbox goes from empty to not, which wakes the kernel out of epoll. The kernel
// drains it, whole, by swapping it with an empty one it keeps (no allocation once warm).

import CSystem
import Glibc
import Synchronization

/// A wait to wake with `CancellationError`: a slot, or (slot -1) whatever wait task `task` is
/// parked in when the request is applied; `generation` is the slot's or the task record's, so
/// a request for one that has moved on is dropped.
struct CancelRequest { var slot: Int32; var generation: UInt32; var task: Int32 = -1 }

// safety: `box` is behind its lock and `pending` is atomic (any thread); `drained` and the
// drain are the kernel thread's alone (`KernelExecutor.drainInbox`).
final class Inbox: @unchecked Sendable {
    struct Mail {
        var jobs: [UnownedJob] = []
        var cancels: [CancelRequest] = []
        var signals: [Signal] = []
        /// Offloaded work that finished: resumed on the kernel thread (`offload`).
        var completions: [any KernelCompletion] = []
        var isEmpty: Bool { jobs.isEmpty && cancels.isEmpty && signals.isEmpty && completions.isEmpty }

        mutating func removeAll() {
            jobs.removeAll(keepingCapacity: true)
            cancels.removeAll(keepingCapacity: true)
            signals.removeAll(keepingCapacity: true)
            completions.removeAll(keepingCapacity: true)
        }
    }

    private let box = ThreadMutex(Mail())
    private let pending = Atomic<Bool>(false)
    /// What the last `take` swapped out (kernel thread only).
    private var drained = Mail()
    /// The eventfd the selector watches.
    let wakefd: Int32

    init() {
        let w = fl_eventfd_create()
        precondition(w >= 0, "firmloop kernel: cannot create an eventfd (errno \(-w))")
        wakefd = w
    }

    /// Any thread: adds to the inbox under the lock, then one eventfd write if it was empty
    /// (the loop drains it before it blocks).
    func post(_ add: (inout Mail) -> Void) {
        let wasEmpty = box.withLock { m -> Bool in
            let e = m.isEmpty
            add(&m)
            return e
        }
        pending.store(true, ordering: .releasing)
        if wasEmpty { _ = fl_eventfd_signal(wakefd) }
    }

    /// Whether something was posted since the last `take` (one atomic load per loop turn).
    @inline(__always) var hasMail: Bool { pending.load(ordering: .acquiring) }

    /// Kernel thread: empties the inbox and hands its contents to `deliver` (which must not
    /// keep the reference).
    func take(_ deliver: (borrowing Mail) -> Void) {
        pending.store(false, ordering: .relaxed)
        _ = fl_eventfd_drain(wakefd)
        box.withLock { swap(&$0, &drained) }
        deliver(drained)
        drained.removeAll()
    }
}
