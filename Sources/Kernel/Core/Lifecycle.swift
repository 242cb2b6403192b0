// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).
//
// A run's life: `begin` (one kernel per process, the clock, the budget), `shutdown` (every
// task cancelled, a grace period, then the stubborn ones abandoned) and `end`.

import CSystem
import Glibc

extension KernelExecutor {
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
    func abandonAll() {
        while ready.popFront() != nil {}
        timers = TimerHeap()
        slots = WaitSlots()
        localCancels.removeAll()
        offloadsInFlight = 0
        tasks.abandonAll()
    }

    func end() -> [TaskStats] {
        if savedTimerSlack > 0 { _ = fl_set_timer_slack(UInt(savedTimerSlack)) }
        selector.forgetAll()
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
