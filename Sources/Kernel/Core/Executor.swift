// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).
//
// The kernel: one thread, one ready ring, one timer heap, one epoll set.
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
    private var resumeInPlace = false
    private var inPlaceJob: UnownedJob? = nil

    // ---------------------------------------------------------------------------------------
    // MARK: other threads

    /// A wait to wake with `CancellationError`: a slot, or (slot -1) whatever wait task
    /// `task` is parked in when the request is applied; `generation` is the slot's or the
    /// task record's, so a request for one that has moved on is dropped.
    struct CancelRequest { var slot: Int32; var generation: UInt32; var task: Int32 = -1 }
    struct Inbox {
        var jobs: [UnownedJob] = []
        var cancels: [CancelRequest] = []
        var signals: [Signal] = []
        /// Offloaded work that finished: resumed here, on the kernel thread (`offload`).
        var completions: [any KernelCompletion] = []
        var isEmpty: Bool { jobs.isEmpty && cancels.isEmpty && signals.isEmpty && completions.isEmpty }
    }
    private let inbox = Mutex(Inbox())
    private var drained = Inbox()
    private let inboxPending = Atomic<Bool>(false)
    /// pthread_t of the thread inside `Kernel.run`, or 0.
    let kernelThread = Atomic<UInt>(0)
    let running = Atomic<Bool>(false)
    private let epfd: Int32
    private let wakefd: Int32
    private static let wakeTag = UInt64.max

    // ---------------------------------------------------------------------------------------
    // MARK: waits and tasks

    var slots = WaitSlots()
    var timers = TimerHeap()
    private var fds: [FDEntry] = []
    private var localCancels: [CancelRequest] = []
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
    private var budgetTicks: UInt64 = .max
    var onOverBudget: @Sendable (OverBudget) -> Void = OverBudget.printToStandardError
    var jobObserver: (@Sendable (JobRecord) -> Void)? = nil
    /// When the running job started, in accounting ticks (one cheap counter read per job).
    private var lastStamp: UInt64 = 0
    private let eventBuffer = UnsafeMutablePointer<UInt32>.allocate(capacity: 64)
    private let tagBuffer = UnsafeMutablePointer<UInt64>.allocate(capacity: 64)

    private init() {
        let e = fl_epoll_create()
        let w = fl_eventfd_create()
        precondition(e >= 0 && w >= 0, "firmloop kernel: cannot create epoll/eventfd (errno \(-min(e, w)))")
        epfd = e
        wakefd = w
        precondition(fl_epoll_add(epfd, wakefd, fl_EPOLLIN, KernelExecutor.wakeTag) == 0)
        localCancels.reserveCapacity(64)
        fds.reserveCapacity(64)
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
            post { $0.jobs.append(j) }
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

    /// Hands something to the kernel from another thread: under the inbox lock, then one eventfd
    /// write if the inbox was empty (the loop drains it before it blocks).
    func post(_ add: (inout Inbox) -> Void) {
        let wasEmpty = inbox.withLock { box -> Bool in
            let e = box.isEmpty
            add(&box)
            return e
        }
        inboxPending.store(true, ordering: .releasing)
        if wasEmpty { _ = fl_eventfd_signal(wakefd) }
    }

    // ---------------------------------------------------------------------------------------
    // MARK: the loop

    enum DriveOutcome { case done, deadlock([String]) }

    /// Runs loop turns until `done()` holds after a turn, or nothing can ever wake a task.
    /// `realDeadline` (monotonic ns) bounds how long a turn may block in epoll, so `done()` is
    /// looked at again by then even if nothing happens.
    func drive(until done: () -> Bool, realDeadline: Int64 = .max) -> DriveOutcome {
        while true {
            lastStamp = fl_ticks()
            var n = ready.count
            while n > 0, let e = ready.popFront() {
                n -= 1
                run(e)
            }
            applyCancels()
            if inboxPending.load(ordering: .acquiring) { drainInbox() }
            if done() { return .done }

            var timeout: Int64
            if !ready.isEmpty || !localCancels.isEmpty {
                timeout = 0
            } else if let d = timers.nextDeadline {
                // Virtual time jumps to the next deadline, unless a worker thread may still post.
                // Real time blocks until `spin` before the deadline, then loops on the clock.
                timeout = isVirtual ? (offloadsInFlight > 0 ? -1 : 0) : max(0, d - fl_monotonic_ns() - spinNanoseconds)
            } else {
                timeout = -1
            }
            if timeout < 0, let names = deadlocked() { return .deadlock(names) }
            if realDeadline != .max {
                let left = max(0, realDeadline - fl_monotonic_ns())
                timeout = timeout < 0 ? left : min(timeout, left)
            }
            if timeout != 0 || slots.byKind.fd > 0 { poll(timeout) }
            if inboxPending.load(ordering: .acquiring) { drainInbox() }
            if isVirtual, ready.isEmpty, offloadsInFlight == 0, let d = timers.nextDeadline, d > virtualNow {
                virtualNow = d
            }
            fireTimers()
        }
    }

    @inline(__always) private func run(_ e: consuming Entry) {
        let job: UnownedJob
        switch e {
        case .job(let j):
            job = j
        case .resume(let c):
            resumeInPlace = true
            c.resume()
            resumeInPlace = false
            guard let j = inPlaceJob else { return }
            inPlaceJob = nil
            job = j
        }
        current = tasks.lookup(unsafeBitCast(job, to: UInt.self))
        job.runSynchronously(isolatedTo: asUnownedSerialExecutor(), taskExecutor: asUnownedTaskExecutor())
        let t = fl_ticks()
        if let o = jobObserver { observe(o, t &- lastStamp) }
        account(current, t &- lastStamp)
        lastStamp = t
    }

    /// Tracing only (off unless `KernelOptions.onJob` is set): kept out of line.
    @inline(never) private func observe(_ o: @Sendable (JobRecord) -> Void, _ dt: UInt64) {
        let ns = Int64(Double(dt) * nanosecondsPerTick)
        o(JobRecord(task: tasks[current].stats.name, start: isVirtual ? virtualNow : now - ns, nanoseconds: ns))
    }

    @inline(__always) private func account(_ i: Int32, _ dt: UInt64) {
        tasks[i].stats.switches += 1
        tasks[i].runTicks &+= dt
        if dt > tasks[i].longestTicks { tasks[i].longestTicks = dt }
        if dt > budgetTicks {
            tasks[i].stats.overBudget += 1
            onOverBudget(OverBudget(task: tasks[i].stats.name, nanoseconds: Int64(Double(dt) * nanosecondsPerTick),
                                    budgetNanoseconds: budgetNanoseconds))
        }
        if tasks[i].finished { tasks.retire(i) }
    }

    /// Nothing runnable, no timer, nothing outside the kernel that could post, and every live task
    /// parked in a kernel wait: the names and what they wait for.
    ///
    /// Only on the virtual clock, where the whole world is simulated: on the real clock another
    /// thread may still cancel a task or resume a continuation, so an idle kernel just waits.
    private func deadlocked() -> [String]? {
        guard isVirtual, timers.count == 0, slots.byKind.fd == 0, slots.byKind.signal == 0, offloadsInFlight == 0,
              localCancels.isEmpty, !inboxPending.load(ordering: .acquiring),
              tasks.liveCount > 0, slots.inUse >= tasks.liveCount else { return nil }
        return slots.slots.filter { $0.kind != .free }.map { "'\(tasks[$0.task].stats.name)' (\($0.what))" }.sorted()
    }

    private func poll(_ timeout: Int64) {
        let n = fl_epoll_wait(epfd, eventBuffer, tagBuffer, 64, timeout, 1)
        precondition(n >= 0, "firmloop kernel: \(fl_epoll_uses_pwait2() != 0 ? "epoll_pwait2" : "epoll_wait") failed (errno \(-n))")
        for i in 0..<Int(n) {
            if tagBuffer[i] == KernelExecutor.wakeTag { continue }   // drained with the inbox
            fdReady(Int32(truncatingIfNeeded: tagBuffer[i]), eventBuffer[i])
        }
    }

    private func drainInbox() {
        inboxPending.store(false, ordering: .relaxed)
        _ = fl_eventfd_drain(wakefd)
        inbox.withLock { swap(&$0, &drained) }
        for j in drained.jobs { ready.pushBack(.job(j)) }
        localCancels.append(contentsOf: drained.cancels)
        for s in drained.signals { signalRaised(s) }
        for c in drained.completions { c.complete() }
        drained.jobs.removeAll(keepingCapacity: true)
        drained.cancels.removeAll(keepingCapacity: true)
        drained.signals.removeAll(keepingCapacity: true)
        drained.completions.removeAll(keepingCapacity: true)
        applyCancels()
    }

    var now: Int64 { isVirtual ? virtualNow : fl_monotonic_ns() }

    private func fireTimers() {
        let t = now
        while let s = timers.popDue(now: t) {
            if slots[s].ownDeadline <= t {
                wake(s)
            } else {
                wake(s, throwing: TimeoutScopeExpired(scope: tasks[slots[s].task].scopeID))
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // MARK: parking and waking

    /// Takes a slot for the running task. Arms a timer at the earlier of `deadline` and the
    /// task's timeout scope, so `withTimeout` needs no timer of its own.
    func prepare(_ kind: WaitKind, _ what: StaticString, deadline: Int64 = .max) -> Int32 {
        let s = slots.acquire(kind: kind, task: current, what: what)
        slots[s].ownDeadline = deadline
        let d = min(deadline, tasks[current].scopeDeadline)
        if d != .max { timers.insert(slot: s, deadline: d) }
        return s
    }

    /// Traps with a clear message when kernel code is called from another thread (a plain
    /// `Task {}`, a worker): `yield()` is `nonisolated(nonsending)`, so the compiler does not
    /// prove this for it (every other wait is `@KernelActor`).
    @inline(__always) func guardKernelThread(_ what: StaticString) {
        if !onKernelThread {
            preconditionFailure("firmloop kernel: \(what) called off the kernel thread: call it from a task the kernel started (Kernel.run, spawn)")
        }
    }

    /// Suspends the running task in slot `s` until `wake`. Cancellation (from any thread)
    /// wakes it with `CancellationError`. The slot is released when the task resumes.
    ///
    /// `nonisolated(nonsending)`, as `yield()` is: it runs on its caller's executor (every
    /// caller is a `@KernelActor` wait), so entering it costs no hop (a swift_task_switch and
    /// its executor lookup, three per GPS read in a simulated day). An earlier kernel reverted
    /// this after resumed jobs went missing; bench/nonsending-park is the stress that looks
    /// for that, and it finds none on Swift 6.3.1 (see its README).
    ///
    /// A task the kernel started is cancelled through the kernel (`TaskRunner.cancelTask`, from
    /// any thread), which marks its record and wakes the wait it is parked in: no runtime
    /// cancellation handler, so no status record added and removed under the task's lock, and
    /// a parked task's frames fit one task-allocator slab. Tasks the kernel did not start (an
    /// `async let` or a Swift task group's child inside a kernel task) are cancelled by Swift,
    /// and park with a handler of their own.
    nonisolated(nonsending) func park(_ s: Int32) async throws {
        let gen = slots[s].generation
        defer { slots.release(s) }
        let me = current
        if isCancelled(me) {   // cancelled before: fail now rather than a loop turn later
            detach(s)
            throw CancellationError()
        }
        if me != TaskTable.unknown {
            try await withUnsafeThrowingContinuation { (c: UnsafeContinuation<Void, any Error>) in
                self.slots[s].cont = c
                self.tasks[me].parked = s
            }
            return
        }
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (c: UnsafeContinuation<Void, any Error>) in
                self.slots[s].cont = c
            }
        } onCancel: {
            self.requestCancel(s, gen)
        }
    }

    /// Like `park`, but deaf to cancellation: for clean-up waits of a task already cancelled.
    @KernelActor func parkIgnoringCancellation(_ s: Int32) async {
        defer { slots.release(s) }
        try? await parkUntilWoken(s)
    }

    /// The continuation of a park nothing cancels. Its own function: Debian's Swift 6.2.3 (the
    /// aarch64 cross build's compiler, built with assertions) asserts in IRGen ("Cannot
    /// dereference a null Type") on a global-actor async method whose `defer` surrounds a
    /// throwing continuation it swallows (`try?` or `catch`), at -O; 6.3 does not
    /// (scripts/arm64/README.md has the ten-line reproduction).
    @KernelActor private func parkUntilWoken(_ s: Int32) async throws {
        try await withUnsafeThrowingContinuation { (c: UnsafeContinuation<Void, any Error>) in
            self.slots[s].cont = c
        }
    }

    /// Detaches slot `s` from everything that can find it, then resumes its task.
    func wake(_ s: Int32, throwing error: (any Error)? = nil) {
        detach(s)
        guard let c = slots[s].cont else { return }
        slots[s].cont = nil
        let t = slots[s].task
        if tasks[t].parked == s { tasks[t].parked = -1 }
        if let error { c.resume(throwing: error) } else { c.resume() }
    }

    private func detach(_ s: Int32) {
        timers.remove(slot: s)
        switch slots[s].kind {
        case .list: unlink(s)
        case .fd:
            let fd = Int(slots[s].fd)
            if fd >= 0 && fd < fds.count {
                if fds[fd].reader == s { fds[fd].reader = -1 }
                if fds[fd].writer == s { fds[fd].writer = -1 }
            }
        case .signal:
            if let sig = slots[s].signal {
                sig._withUnsafeGuaranteedRef { if $0.waiter == s { $0.waiter = -1 } }
            }
        case .timer, .free: break
        }
    }

    /// Whether task `t` (the running one) was cancelled: the record's flag for a task the kernel
    /// started; the runtime's answer for one it did not.
    @inline(__always) func isCancelled(_ t: Int32) -> Bool {
        t != TaskTable.unknown ? tasks[t].cancelled : Task.isCancelled
    }

    /// Cancels kernel task `t` (any thread; `TaskRunner.cancelTask`): on the kernel thread the task
    /// is marked cancelled at once (a `yield()` later in this turn sees it) and its wait woken
    /// at the end of the turn; from another thread, when the kernel applies the request.
    nonisolated func cancelTask(_ t: Int32, generation: UInt32) {
        let r = CancelRequest(slot: -1, generation: generation, task: t)
        if onKernelThread {
            if tasks[t].generation == generation { tasks[t].cancelled = true }
            localCancels.append(r)
        } else {
            post { $0.cancels.append(r) }
        }
    }

    nonisolated func requestCancel(_ s: Int32, _ generation: UInt32) {
        requestCancel(CancelRequest(slot: s, generation: generation))
    }

    nonisolated func requestCancel(_ r: CancelRequest) {
        if onKernelThread { localCancels.append(r) } else { post { $0.cancels.append(r) } }
    }

    private func applyCancels() {
        var i = 0
        while i < localCancels.count {
            var r = localCancels[i]
            i += 1
            if r.slot < 0 {   // the task's wait, whichever it is now
                guard tasks[r.task].generation == r.generation else { continue }
                tasks[r.task].cancelled = true
                guard tasks[r.task].parked >= 0 else { continue }
                r.slot = tasks[r.task].parked
                r.generation = slots[r.slot].generation
            }
            if slots[r.slot].generation == r.generation && slots[r.slot].cont != nil {
                wake(r.slot, throwing: CancellationError())
            }
        }
        localCancels.removeAll(keepingCapacity: true)
    }

    // ---------------------------------------------------------------------------------------
    // MARK: wait lists

    func append(_ s: Int32, to list: WaitList) {
        slots[s].list = Unmanaged.passUnretained(list)
        slots[s].prev = list.tail
        slots[s].next = -1
        if list.tail >= 0 { slots[list.tail].next = s } else { list.head = s }
        list.tail = s
        list.count += 1
    }

    private func unlink(_ s: Int32) {
        guard let u = slots[s].list else { return }
        u._withUnsafeGuaranteedRef { list in
            let p = slots[s].prev, n = slots[s].next
            if p >= 0 { slots[p].next = n } else { list.head = n }
            if n >= 0 { slots[n].prev = p } else { list.tail = p }
            list.count -= 1
        }
        slots[s].list = nil
        slots[s].prev = -1
        slots[s].next = -1
    }

    /// Wakes the longest waiter; false if none.
    @discardableResult
    func wakeFirst(_ list: WaitList, throwing error: (any Error)? = nil) -> Bool {
        guard list.head >= 0 else { return false }
        wake(list.head, throwing: error)
        return true
    }

    func wakeAll(_ list: WaitList, throwing error: (any Error)? = nil) {
        while list.head >= 0 { wake(list.head, throwing: error) }
    }

    /// A slot for the running task, at the end of `list`; `park` it.
    func prepare(on list: WaitList, _ what: StaticString) -> Int32 {
        let s = prepare(.list, what)
        append(s, to: list)
        return s
    }

    // ---------------------------------------------------------------------------------------
    // MARK: fd readiness (one epoll set, edge-triggered, registered once per fd)
    //
    // An fd joins the epoll set on its first wait and stays, edge-triggered, until
    // `closeDescriptor` or the end of the run: no epoll_ctl per wait (a one-shot re-arm would
    // cost two extra syscalls per ping-pong round trip). An edge that comes while nobody waits
    // is kept as a ready flag, so the next wait returns at once and no edge is lost; at worst
    // a wait returns on readiness already consumed and the caller's read says EAGAIN.

    struct FDEntry {
        var reader: Int32 = -1
        var writer: Int32 = -1
        var registered = false
        var readReady = false
        var writeReady = false
    }

    /// Registers a wait for `fd`; nil if it is ready already (an edge came while nobody
    /// waited), else the slot to `park` in. Synchronous, so `readable` is one async frame.
    func prepareFD(_ fd: Int32, write: Bool) throws -> Int32? {
        // The table is indexed by fd: check a new number is open before growing it that far.
        guard fd >= 0, Int(fd) < fds.count || fcntl(fd, F_GETFD) >= 0 else {
            throw KernelError.badDescriptor(fd: fd, operation: write ? "writable" : "readable")
        }
        while fds.count <= Int(fd) { fds.append(FDEntry()) }
        let busy = write ? fds[Int(fd)].writer : fds[Int(fd)].reader
        if busy >= 0 {
            throw KernelError.descriptorBusy(fd: fd, write: write, waiter: tasks[slots[busy].task].stats.name)
        }
        if !fds[Int(fd)].registered { try register(fd, write: write) }
        if write ? fds[Int(fd)].writeReady : fds[Int(fd)].readReady {
            if write { fds[Int(fd)].writeReady = false } else { fds[Int(fd)].readReady = false }
            return nil
        }
        let s = prepare(.fd, write ? "writable" : "readable")
        slots[s].fd = fd
        if write { fds[Int(fd)].writer = s } else { fds[Int(fd)].reader = s }
        return s
    }

    private func register(_ fd: Int32, write: Bool) throws {
        let events = fl_EPOLLIN | fl_EPOLLOUT | fl_EPOLLRDHUP | fl_EPOLLET
        var r = fl_epoll_add(epfd, fd, events, UInt64(fd))
        if r == -EEXIST { r = fl_epoll_mod(epfd, fd, events, UInt64(fd)) }
        switch -r {
        case 0: fds[Int(fd)].registered = true
        case EBADF: throw KernelError.badDescriptor(fd: fd, operation: write ? "writable" : "readable")
        case EPERM: throw KernelError.notPollable(fd: fd)
        default: throw KernelError.system(call: "epoll_ctl", errno: -r, detail: "fd \(fd)")
        }
    }

    private func fdReady(_ fd: Int32, _ events: UInt32) {
        guard fd >= 0, Int(fd) < fds.count, fds[Int(fd)].registered else { return }
        if events & (fl_EPOLLIN | fl_EPOLLHUP | fl_EPOLLERR | fl_EPOLLRDHUP) != 0 {
            let r = fds[Int(fd)].reader
            if r >= 0 { wake(r) } else { fds[Int(fd)].readReady = true }
        }
        if events & (fl_EPOLLOUT | fl_EPOLLHUP | fl_EPOLLERR) != 0 {
            let w = fds[Int(fd)].writer
            if w >= 0 { wake(w) } else { fds[Int(fd)].writeReady = true }
        }
    }

    /// Wakes the waiters of `fd` with `KernelError.closed`, removes it from the epoll set and
    /// closes it.
    func close(_ fd: Int32) -> Int32 {
        forget(fd)
        return Glibc.close(fd)
    }

    /// Wakes the waiters of `fd` with `KernelError.closed` and removes it from the epoll set.
    func forget(_ fd: Int32) {
        guard fd >= 0 && Int(fd) < fds.count else { return }
        let e = fds[Int(fd)]
        if e.reader >= 0 { wake(e.reader, throwing: KernelError.closed(fd: fd)) }
        if e.writer >= 0 { wake(e.writer, throwing: KernelError.closed(fd: fd)) }
        if e.registered { _ = fl_epoll_del(epfd, fd) }
        fds[Int(fd)] = FDEntry()
    }

    /// Drops every registration (the run is over; its fds may be closed and their numbers reused).
    private func forgetAllDescriptors() {
        for fd in fds.indices where fds[fd].registered { _ = fl_epoll_del(epfd, Int32(fd)) }
        fds.removeAll(keepingCapacity: true)
    }

    // ---------------------------------------------------------------------------------------
    // MARK: signals (raised from any thread)

    func signalRaised(_ s: Signal) {
        if onKernelThread {
            if s.waiter >= 0 && s.flag.exchange(false, ordering: .acquiringAndReleasing) { wake(s.waiter) }
        } else {
            post { $0.signals.append(s) }
        }
    }

    // ---------------------------------------------------------------------------------------
    // MARK: tasks

    /// Creates a task record and starts `runner` as a new Swift task, on this executor: as the
    /// process's default executor, or else as the task's preferred executor (so every wake-up
    /// comes straight back here, never through the global pool).
    ///
    /// The record is bound to the task's address here, before its first job can run, and holds
    /// the runner, so the task's closure captures nothing: no closure context (an `@isolated(any)`
    /// closure with a capture is boxed with its isolation, 40 bytes), and a spawn allocates the
    /// runtime's task, the runner (the handle) and the caller's body, nothing else.
    @discardableResult
    func start(name: String, _ runner: TaskRunner) -> Int32 {
        let rec = tasks.create(name: name)
        runner.record = rec
        tasks[rec].runner = runner
        // No preference when the kernel is the process's default executor (DefaultExecutor.swift):
        // a preferred executor is looked up under the task's status-record lock at every switch.
        let t = isDefault
            ? Task { @Sendable @KernelActor in await KernelExecutor.runCurrentTask() }
            : Task(executorPreference: self) { @Sendable @KernelActor in await KernelExecutor.runCurrentTask() }
        tasks.bind(rec, address: unsafeBitCast(t, to: UInt.self))
        runner.task = t
        runner.generation = tasks[rec].generation
        return rec
    }

    /// A kernel task's whole life: the runner of the record its first job was accounted to.
    @KernelActor private static func runCurrentTask() async {
        let k = KernelExecutor.shared
        let rec = k.current
        guard let runner = k.tasks[rec].runner else {
            preconditionFailure("firmloop kernel: a task started with no record of its own")
        }
        await runner.run()
        k.tasks[rec].finished = true
    }

    func start(name: String, _ body: @escaping @Sendable @KernelActor () async -> Void) -> Int32 {
        start(name: name, ClosureRunner(body))
    }


    // ---------------------------------------------------------------------------------------
    // MARK: run

    func begin(_ options: KernelOptions) throws {
        if running.exchange(true, ordering: .acquiringAndReleasing) {
            throw KernelError.alreadyRunning(nested: onKernelThread)
        }
        kernelThread.store(UInt(pthread_self()), ordering: .releasing)
        // Deadlines mean what they say: 1 ns timer slack instead of Linux's default 50 us
        // (sleep(10 ms) p99 lateness went from ~137 us to ~80 us). Restored in end().
        savedTimerSlack = fl_set_timer_slack(1)
        switch options.clock {
        case .monotonic: isVirtual = false
        case .virtual(let start): isVirtual = true; virtualNow = start
        }
        budgetNanoseconds = Int64(options.budgetMilliseconds) * 1_000_000
        spinNanoseconds = Int64(max(0, options.spinMicroseconds)) * 1000
        budgetTicks = UInt64(Double(budgetNanoseconds) / nanosecondsPerTick)
        onOverBudget = options.onOverBudget
        jobObserver = options.onJob
        scopeCounter = 0
    }

    /// Cancels every live task and runs until they have all finished, for at most `grace`
    /// nanoseconds of real time: tasks that ignore cancellation longer are named on stderr and
    /// abandoned (never resumed), so a stubborn task cannot hang `Kernel.run`.
    func shutdown(grace: Int64 = 5_000_000_000) -> DriveOutcome {
        for i in tasks.records.indices.dropFirst() where tasks.records[i].live {
            tasks.records[i].runner?.cancelTask()
        }
        let giveUp = fl_monotonic_ns() + grace
        let outcome = drive(until: { tasks.liveCount == 0 || fl_monotonic_ns() > giveUp }, realDeadline: giveUp)
        if tasks.liveCount > 0 {
            writeAll(2, "firmloop kernel: at shutdown these tasks ignored cancellation for "
                + "\(grace / 1_000_000) ms and were abandoned: \(tasks.liveNames().joined(separator: ", "))\n")
            abandonAll()
        }
        return outcome
    }

    /// Forgets every task, wait and queued job (their tasks are leaked, never resumed), so the
    /// next `Kernel.run` starts clean.
    private func abandonAll() {
        while ready.popFront() != nil {}
        timers = TimerHeap()
        slots = WaitSlots()
        localCancels.removeAll()
        offloadsInFlight = 0
        tasks.abandonAll()
    }

    private var savedTimerSlack = -1

    func end() -> [TaskStats] {
        if savedTimerSlack > 0 { _ = fl_set_timer_slack(UInt(savedTimerSlack)) }
        forgetAllDescriptors()
        jobObserver = nil
        let stats = tasks.statsByName()
        if tasks.liveCount == 0 { tasks.reset() }
        kernelThread.store(0, ordering: .releasing)
        running.store(false, ordering: .releasing)
        return stats
    }
}

/// The error a wait throws when its task's timeout scope expires; `withTimeout` turns its own
/// scope's into `TimeoutError` and lets outer scopes' pass.
struct TimeoutScopeExpired: Error {
    let scope: UInt64
}

/// What a kernel task runs: `run()` once. A spawn's handle is its own runner (`TaskHandle`);
/// `Kernel.run`'s main task runs a closure (`ClosureRunner`). Public only as `TaskHandle`'s
/// superclass: nothing in it is reachable outside the kernel.
@KernelActor
public class TaskRunner {
    /// The task's record in the task table and its generation, and the Swift task: set once
    /// by `start` on the kernel thread, before the runner (the handle) is handed to anyone.
    nonisolated(unsafe) final var record: Int32 = -1
    nonisolated(unsafe) final var generation: UInt32 = 0
    nonisolated(unsafe) final var task: Task<Void, Never>?
    nonisolated init() {}
    func run() async {}

    /// Cancels the task, from any thread: the kernel marks it cancelled and wakes the wait it
    /// is parked in (`KernelExecutor.cancelTask`), and the Swift task is cancelled too
    /// (`Task.isCancelled`, an `offload` in progress, `async let` children).
    nonisolated final func cancelTask() {
        guard record >= 0 else { return }
        KernelExecutor.shared.cancelTask(record, generation: generation)
        task?.cancel()
    }
}

@KernelActor
final class ClosureRunner: TaskRunner {
    let body: @Sendable @KernelActor () async -> Void
    nonisolated init(_ body: @escaping @Sendable @KernelActor () async -> Void) { self.body = body }
    override func run() async { await body() }
}
