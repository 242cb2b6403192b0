// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).
//
// The kernel: one thread, one ready ring, one timer heap, one epoll set. Its parts, one file
// each: this one (the state and the executor protocol), RunLoop.swift (the turn below),
// Selector.swift (epoll and the fd table; it knows no tasks), Inbox.swift (what other threads
// hand over), Parking.swift (waits, wakes and cancellation), WaitLists.swift, FDWaits.swift (a
// task's wait on an fd), TaskStart.swift and Lifecycle.swift (begin, shutdown, end).
//
// A loop turn (`drive`):
//   1. run every job that was ready when the turn began (FIFO), accounting each to its task;
//   2. apply cancellations requested during the turn and anything other threads posted;
//   3. poll epoll (timeout = next timer deadline; zero if work is ready; skipped entirely
//      while work is ready and no task waits on an fd); wake fd waiters;
//   4. fire due timers in (deadline, order set) order.
// A wake-up resumes a continuation; the runtime hands the task's next job to `enqueue`, which
// appends it to the ring: waking is FIFO, as asyncio's call_soon.

import CSystem
import Glibc
import Synchronization

final class KernelExecutor: SerialExecutor, TaskExecutor, @unchecked Sendable {
    static let shared = KernelExecutor()

    // ---------------------------------------------------------------------------------------
    // MARK: ready ring

    enum Entry {
        case job(UnownedJob)
        /// A `yield()`ed task: resumed when reached, and its job run at once, so yielding keeps
        /// the task's place in FIFO order without allocating (Task.yield allocates a job).
        case resume(UnsafeContinuation<Void, Never>)
    }

    var ready = Deque<Entry>(capacity: 1024)
    /// Set while an `.resume` entry is being resumed: `enqueue` then hands the job back here
    /// instead of queueing it behind everything else.
    var resumeInPlace = false
    var inPlaceJob: UnownedJob? = nil

    // ---------------------------------------------------------------------------------------
    // MARK: other threads

    let inbox = Inbox()
    /// pthread_t of the thread inside `Kernel.run`, or 0.
    let kernelThread = Atomic<UInt>(0)
    let running = Atomic<Bool>(false)
    var selector: Selector

    // ---------------------------------------------------------------------------------------
    // MARK: waits and tasks

    var slots = WaitSlots()
    var timers = TimerHeap()
    /// Cancellations requested on the kernel thread, or taken from the inbox: applied at the
    /// end of the turn (`applyCancels`).
    var localCancels: [CancelRequest] = []
    var tasks = TaskTable()
    /// The task whose job is running (set by the loop before each job).
    var current: Int32 = TaskTable.unknown
    var offloadsInFlight = 0
    /// The process's default executor (`makeKernelDefaultExecutor`): tasks need no executor preference.
    nonisolated(unsafe) var isDefault = false
    var scopeCounter: UInt64 = 0

    // ---------------------------------------------------------------------------------------
    // MARK: clock and budget

    var isVirtual = false
    var virtualNow: Int64 = 0
    var budgetNanoseconds: Int64 = 50_000_000
    /// `KernelOptions.spinMicroseconds`, in nanoseconds.
    var spinNanoseconds: Int64 = 0
    var budgetTicks: UInt64 = .max
    var onOverBudget: @Sendable (OverBudget) -> Void = OverBudget.printToStandardError
    var jobObserver: (@Sendable (JobRecord) -> Void)? = nil
    /// When the running job started, in accounting ticks (one cheap counter read per job).
    var lastStamp: UInt64 = 0
    /// The thread's timer slack before `begin` set it to 1 ns (restored by `end`).
    var savedTimerSlack = -1

    private init() {
        selector = Selector(waker: inbox.wakefd)
        localCancels.reserveCapacity(64)
    }

    // ---------------------------------------------------------------------------------------
    // MARK: executor protocol

    @inline(__always) var onKernelThread: Bool {
        pthread_equal(pthread_self(), pthread_t(kernelThread.load(ordering: .relaxed))) != 0
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let j = UnownedJob(job)
        if onKernelThread {
            if resumeInPlace {
                resumeInPlace = false
                inPlaceJob = j
            } else {
                ready.pushBack(.job(j))
            }
        } else {
            if !running.load(ordering: .acquiring) { warnNotRunning() }
            inbox.post { $0.jobs.append(j) }
        }
    }

    private let warnedNotRunning = Atomic<Bool>(false)
    private func warnNotRunning() {
        if warnedNotRunning.exchange(true, ordering: .relaxed) { return }
        writeAll(2, "firmloop kernel: @KernelActor work (or, with the kernel as the default executor, any task's) "
            + "was started while no kernel is running; it waits until Kernel.run starts one. "
            + "Call kernel code from inside Kernel.run { ... }.\n")
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor { UnownedSerialExecutor(ordinary: self) }

    func checkIsolated() {
        precondition(onKernelThread, "firmloop kernel: @KernelActor code ran off the kernel thread")
    }

    func isIsolatingCurrentContext() -> Bool? { onKernelThread }
}
