// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).
//
// The run loop: the numbered turn in Executor.swift, a job's accounting, the deadlock check
// of the virtual clock, and the timers' firing.

import CSystem
import Glibc

extension KernelExecutor {
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
            if inbox.hasMail { drainInbox() }
            if done() { return .done }

            var timeout: Int64
            if !ready.isEmpty || !localCancels.isEmpty {
                timeout = 0
            } else if let t = timers.next {
                // Virtual time jumps to the next deadline, unless a worker thread may still post.
                // Real time blocks until `spin` before the deadline, then loops on the clock;
                // less what the timer may be late by (its tolerance), so a coarse one blocks
                // to the deadline itself.
                let spin = max(0, spinNanoseconds - slots[t.slot].tolerance)
                timeout = isVirtual ? (offloadsInFlight > 0 ? -1 : 0) : max(0, t.deadline - fl_monotonic_ns() - spin)
            } else {
                timeout = -1
            }
            if timeout < 0, let names = deadlocked() { return .deadlock(names) }
            if realDeadline != .max {
                let left = max(0, realDeadline - fl_monotonic_ns())
                timeout = timeout < 0 ? left : min(timeout, left)
            }
            if timeout != 0 || slots.byKind.fd > 0 {
                // The waker's readiness needs nothing here: the inbox is drained next, if posted to.
                let n = selector.poll(timeout)
                for i in 0..<n { wake(selector.woken(i)) }
            }
            if inbox.hasMail { drainInbox() }
            if isVirtual, ready.isEmpty, offloadsInFlight == 0, let d = timers.next?.deadline, d > virtualNow {
                virtualNow = d
            }
            fireTimers()
        }
    }

    @inline(__always) func run(_ e: consuming Entry) {
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
    @inline(never) func observe(_ o: @Sendable (JobRecord) -> Void, _ dt: UInt64) {
        let ns = Int64(Double(dt) * nanosecondsPerTick)
        o(JobRecord(task: tasks[current].stats.name, start: isVirtual ? virtualNow : now - ns, nanoseconds: ns))
    }

    @inline(__always) func account(_ i: Int32, _ dt: UInt64) {
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
    func deadlocked() -> [String]? {
        guard isVirtual, timers.count == 0, slots.byKind.fd == 0, slots.byKind.signal == 0, offloadsInFlight == 0,
              localCancels.isEmpty, !inbox.hasMail,
              tasks.liveCount > 0, slots.inUse >= tasks.liveCount else { return nil }
        return slots.slots.filter { $0.kind != .free }.map { "'\(tasks[$0.task].stats.name)' (\($0.what))" }.sorted()
    }

    /// Takes what other threads posted: their jobs join the ready ring, cancellations are
    /// applied, raised signals wake their waiters, finished offloads resume.
    func drainInbox() {
        inbox.take { mail in
            for j in mail.jobs { ready.pushBack(.job(j)) }
            localCancels.append(contentsOf: mail.cancels)
            for s in mail.signals { signalRaised(s) }
            for c in mail.completions { c.complete() }
        }
        applyCancels()
    }

    var now: Int64 { isVirtual ? virtualNow : fl_monotonic_ns() }

    func fireTimers() {
        let t = now
        while let s = timers.popDue(now: t) {
            if slots[s].ownDeadline <= t {
                wake(s)
            } else {
                wake(s, throwing: TimeoutScopeExpired(scope: tasks[slots[s].task].scopeID))
            }
        }
    }
}
