// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).
//
// Parking and waking: a task takes a wait slot (`prepare`), parks in it, and is resumed once,
// by `wake`, which first detaches the slot from everything that can still find it (timer heap,
// wait list, fd table, signal). Cancellation, from any thread, wakes the wait it names.

extension KernelExecutor {
    /// Takes a slot for the running task. Arms a timer at the earlier of `deadline` and the
    /// task's timeout scope, so `withTimeout` needs no timer of its own.
    func prepare(_ kind: WaitKind, _ what: StaticString, deadline: Int64 = .max, tolerance: Int64 = 0) -> Int32 {
        let s = slots.acquire(kind: kind, task: current, what: what)
        slots[s].ownDeadline = deadline
        slots[s].tolerance = tolerance
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

    func detach(_ s: Int32) {
        timers.remove(slot: s)
        switch slots[s].kind {
        case .list: unlink(s)
        case .fd: selector.clearWaiter(slots[s].fd, s)
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
            inbox.post { $0.cancels.append(r) }
        }
    }

    nonisolated func requestCancel(_ s: Int32, _ generation: UInt32) {
        requestCancel(CancelRequest(slot: s, generation: generation))
    }

    nonisolated func requestCancel(_ r: CancelRequest) {
        if onKernelThread { localCancels.append(r) } else { inbox.post { $0.cancels.append(r) } }
    }

    /// Applies `localCancels` (most turns have none: that test is all they cost).
    @inline(__always) func applyCancels() {
        if !localCancels.isEmpty { applyPendingCancels() }
    }

    private func applyPendingCancels() {
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
}
