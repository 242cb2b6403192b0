/// A mutual-exclusion lock for tasks (asyncio.Lock), for state that must stay consistent across
/// awaits. FIFO: `unlock()` hands the lock straight to the longest waiter.
@KernelActor
public final class AsyncLock {
    public private(set) var isLocked = false
    let waiters = WaitList()

    public nonisolated init() {}

    public func lock() async throws {
        if !isLocked {
            isLocked = true
            return
        }
        try await KernelExecutor.shared.park(KernelExecutor.shared.prepare(on: waiters, "AsyncLock.lock"))
        // unlock() handed the lock over: isLocked is still true and it is ours.
    }

    public func unlock() {
        precondition(isLocked, "AsyncLock.unlock() of a lock that is not locked")
        if !KernelExecutor.shared.wakeFirst(waiters) { isLocked = false }
    }

    public func withLock<T>(_ body: () async throws -> T) async throws -> T {
        try await lock()
        defer { unlock() }
        return try await body()
    }
}

/// A counting semaphore (asyncio.Semaphore): at most `value` holders at once, FIFO.
@KernelActor
public final class Semaphore {
    public private(set) var value: Int
    let waiters = WaitList()

    public nonisolated init(value: Int) {
        precondition(value >= 0, "Semaphore(value:) needs value >= 0, got \(value)")
        self.value = value
    }

    public func acquire() async throws {
        if value > 0 {
            value -= 1
            return
        }
        try await KernelExecutor.shared.park(KernelExecutor.shared.prepare(on: waiters, "Semaphore.acquire"))
        // release() handed its unit straight to us.
    }

    public func release() {
        if !KernelExecutor.shared.wakeFirst(waiters) { value += 1 }
    }

    public func withPermit<T>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }
}
