/// A flag tasks can wait for (asyncio.Event): `set()` wakes every waiter, in the order they
/// waited; waits after `set()` return at once until `clear()`.
@KernelActor
public final class Event {
    public private(set) var isSet = false
    let waiters = WaitList()

    public nonisolated init() {}

    public func set() {
        isSet = true
        KernelExecutor.shared.wakeAll(waiters)
    }

    public func clear() { isSet = false }

    public func wait() async throws {
        if isSet { return }
        let k = KernelExecutor.shared
        try await k.park(k.prepare(on: waiters, "Event.wait"))
    }

    /// Tasks waiting now.
    public var waiting: Int { waiters.count }
}
