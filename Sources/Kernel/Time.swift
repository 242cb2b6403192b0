// Time: sleep, yield, drift-free tickers, timeouts.

// `yield()` is `nonisolated(nonsending)`: it runs on the caller's executor (the kernel), so it
// costs no actor hop (~20% of a yield); it checks at run time that it is on the kernel thread.
// The other waits stay `@KernelActor` (see `KernelExecutor.park`).

/// Lets every other ready task run once, then continues (asyncio's `await sleep(0)`).
/// The task keeps its FIFO place and nothing is allocated. Like every kernel wait it is a
/// cancellation point: a cancelled task gets `CancellationError` here, so a loop that only
/// yields can still be stopped.
///
/// Inlined into the caller: a call of an async function allocates its frame from the task's
/// allocator, ~65 of a yield's ~1,570 instructions (callgrind, issue 28).
@inlinable
nonisolated(nonsending)
public func yield() async throws {
    // safety: `yieldRequeue` traps off the kernel thread, so the ready queue (kernel-thread
    // only) is touched from its owner; the continuation is resumed once, when the queue pops it.
    await _unsafeInheritExecutor_withUnsafeContinuation { (c: UnsafeContinuation<Void, Never>) in
        yieldRequeue(c)
    }
    if yieldCancelled() { throw CancellationError() }
}

/// `yield()`'s continuation goes to the back of the ready queue.
@usableFromInline func yieldRequeue(_ c: UnsafeContinuation<Void, Never>) {
    let k = KernelExecutor.shared
    k.guardKernelThread("yield()")
    k.ready.pushBack(.resume(c))
}

@usableFromInline func yieldCancelled() -> Bool {
    let k = KernelExecutor.shared
    return k.isCancelled(k.current)
}

/// Suspends the task for `ms` milliseconds. Throws `CancellationError` if cancelled meanwhile.
/// `tolerance`: as `sleep(until:tolerance:)`'s.
@KernelActor
public func sleep(ms: Int, tolerance: Int64 = 0) async throws {
    try await sleep(until: KernelExecutor.shared.now + Int64(ms) * 1_000_000, tolerance: tolerance)
}

/// Suspends the task until the kernel clock reads `deadline` (nanoseconds, see `Kernel.now`).
///
/// `tolerance` (ns): how much later the task may wake. By default (0) the kernel wakes early
/// and watches the clock for the last `KernelOptions.spinMicroseconds`, so the wake is within
/// tens of microseconds of the deadline; a tolerance shortens that stretch by as much, and one
/// of at least the window (`coarseTolerance`) blocks to the deadline itself, leaving the OS's
/// wake-up latency (~50-150 µs, more in a VM) in the lateness: no CPU spent watching the clock,
/// for a poll, a batch or a heartbeat.
@KernelActor
public func sleep(until deadline: Int64, tolerance: Int64 = 0) async throws {
    let k = KernelExecutor.shared
    let s = k.prepare(.timer, "sleep", deadline: deadline, tolerance: tolerance)
    try await k.park(s)
}

/// A drift-free periodic ticker: tick n is due at start + n × period, however late the task ran
/// before. A tick that is already a whole period late is skipped and counted in `missed`.
@KernelActor
public final class Ticker {
    public let periodNanoseconds: Int64
    public private(set) var nextDeadline: Int64
    /// Ticks delivered so far.
    public private(set) var ticks = 0
    /// Ticks skipped because the task fell more than a period behind.
    public private(set) var missed = 0

    init(period: Int64, first: Int64) {
        periodNanoseconds = period
        nextDeadline = first
    }

    /// Waits for the next tick and returns its number (1, 2, ...).
    public func tick() async throws -> Int {
        try await sleep(until: nextDeadline)
        ticks += 1
        nextDeadline += periodNanoseconds
        let now = KernelExecutor.shared.now
        if nextDeadline <= now {
            let behind = (now - nextDeadline) / periodNanoseconds + 1
            missed += Int(behind)
            nextDeadline += behind * periodNanoseconds
        }
        return ticks
    }
}

/// A ticker whose first tick is one period from now: `let t = every(ms: 1000); while true { try await t.tick() }`.
@KernelActor
public func every(ms: Int) -> Ticker {
    precondition(ms > 0, "every(ms:) needs a period > 0, got \(ms)")
    let p = Int64(ms) * 1_000_000
    return Ticker(period: p, first: KernelExecutor.shared.now + p)
}

/// Runs `body`; if it has not finished after `ms` milliseconds, the kernel wait it is in (or its
/// next one) throws, and `withTimeout` throws `TimeoutError`. Like trio's `fail_after`: no extra
/// task or timer; the deadline rides on the task's own waits. Nested timeouts compose: the
/// earliest deadline wins and its own `withTimeout` reports it.
@KernelActor
public func withTimeout<T>(ms: Int, _ body: () async throws -> T) async throws -> T {
    let k = KernelExecutor.shared
    let me = k.current
    guard me != TaskTable.unknown else { throw KernelError.notInKernelTask(operation: "withTimeout") }
    k.scopeCounter += 1
    let id = k.scopeCounter
    let saved = (k.tasks[me].scopeDeadline, k.tasks[me].scopeID)
    let deadline = k.now + Int64(ms) * 1_000_000
    if deadline < saved.0 {
        k.tasks[me].scopeDeadline = deadline
        k.tasks[me].scopeID = id
    }
    defer {
        k.tasks[me].scopeDeadline = saved.0
        k.tasks[me].scopeID = saved.1
    }
    do {
        return try await body()
    } catch let e as TimeoutScopeExpired where e.scope == id {
        throw TimeoutError(milliseconds: ms)
    }
}
