// Tasks: spawn, join, cancel, gather, structured groups.

/// What every task handle can do, whatever its result type.
@KernelActor
public protocol AnyTaskHandle: AnyObject {
    var name: String { get }
    var isDone: Bool { get }
    var failure: (any Error)? { get }
    func cancel()
    /// Parks until the task finished, ignoring cancellation of the waiter (for clean-up).
    func join() async
    func watch(_ e: Event)
}

/// A spawned task: await `value` for its result, `cancel()` to stop it.
@KernelActor
public final class TaskHandle<T>: TaskRunner, AnyTaskHandle {
    public let name: String
    // The outcome, kept so that the kernel's one `run` for every T (a generic class's methods
    // are compiled once, for any T) stores it with T's own metadata only: a `Result<T, Error>?`
    // there looked up `Result<T, Error>` and `Optional<…>` in the runtime's metadata cache
    // eight times a spawn, ~2,600 of its ~13,500 instructions (callgrind, issue 28). `value`
    // is inlined into its caller, where T is known, to take the value out of `returned`.
    @usableFromInline var returned: Any = ()
    @usableFromInline var thrown: (any Error)?
    @usableFromInline var done = false
    /// Tasks waiting for this one to finish; made on the first wait (most tasks are never
    /// waited for while they run).
    private var joinList: WaitList?
    var joiners: WaitList {
        if let j = joinList { return j }
        let j = WaitList()
        joinList = j
        return j
    }
    private var watchers: [Event] = []
    /// The task's body, until it has run.
    private var body: (@Sendable @KernelActor () async throws -> T)?

    @usableFromInline init(name: String, body: @escaping @Sendable @KernelActor () async throws -> T) {
        self.name = name
        self.body = body
    }

    override func run() async {
        guard let body else { return }
        self.body = nil
        do { returned = try await body() } catch { thrown = error }
        finish()
    }

    public var isDone: Bool { done }

    public var failure: (any Error)? { thrown }

    /// Asks the task to stop: its current or next kernel wait throws `CancellationError`.
    /// Callable from any thread (the kernel applies it on its own).
    public nonisolated func cancel() { cancelTask() }

    /// The task's result; rethrows its error. Waiting honours the waiter's own cancellation and
    /// timeout (the task goes on).
    @inlinable public var value: T {
        get async throws {
            if !done { try await waitUntilDone() }
            return try outcome()
        }
    }

    /// What the finished task returned or threw.
    @inlinable func outcome() throws -> T {
        if let e = thrown { throw e }
        return returned as! T
    }

    @usableFromInline func waitUntilDone() async throws {
        while !done { try await KernelExecutor.shared.park(KernelExecutor.shared.prepare(on: joiners, "join")) }
    }

    public func join() async {
        let k = KernelExecutor.shared
        while !done { await k.parkIgnoringCancellation(k.prepare(on: joiners, "join")) }
    }

    public func watch(_ e: Event) {
        if isDone { e.set() } else { watchers.append(e) }
    }

    func finish() {
        done = true
        if let j = joinList { KernelExecutor.shared.wakeAll(j) }
        for w in watchers { w.set() }
        watchers.removeAll()
    }
}

/// Starts `body` as a new task named `name` on the kernel and returns its handle. It first runs
/// when the current task next awaits (FIFO, like `asyncio.create_task`).
@KernelActor
@discardableResult
@inlinable
public func spawn<T: Sendable>(
    _ name: String, _ body: @escaping @Sendable @KernelActor () async throws -> T
) -> TaskHandle<T> {
    // Inlined into the caller, so the handle is made with `TaskHandle<T>` known there: its
    // metadata is a cached load, where a generic spawn looked it up in the runtime's metadata
    // cache at every call (hashing and comparing the key: ~2,500 of a spawn's ~14,000
    // instructions, callgrind, issue 28).
    let h = TaskHandle<T>(name: name, body: body)
    startTask(name: name, h)
    return h
}

@KernelActor @usableFromInline
func startTask(name: String, _ runner: TaskRunner) {
    KernelExecutor.shared.start(name: name, runner)
}

/// Waits for every handle. If one fails, the others are cancelled and awaited, and its error
/// is rethrown (the first to fail, in time). Cancelling the waiter cancels them all.
@KernelActor
public func gather<T>(_ handles: [TaskHandle<T>]) async throws -> [T] {
    try await waitAll(handles.map { $0 as any AnyTaskHandle })
    return try handles.map { try $0.outcome() }
}

/// `gather` for handles of different result types: `let (a, b) = try await gather(h1, h2)`.
@KernelActor
public func gather<each T>(_ handles: repeat TaskHandle<each T>) async throws -> (repeat each T) {
    var all: [any AnyTaskHandle] = []
    for h in repeat each handles { all.append(h) }
    try await waitAll(all)
    return (repeat try (each handles).outcome())
}

@KernelActor
func waitAll(_ handles: [any AnyTaskHandle]) async throws {
    let changed = Event()
    for h in handles { h.watch(changed) }
    try await supervise({ handles }, changed: changed)
}

/// Waits until every task in `children()` is done (each must `watch(changed)`). The first
/// failure, or the waiter's own cancellation, cancels the rest; they are all joined (the list
/// is read again, so children spawned while winding down are joined too) and the error rethrown.
@KernelActor
func supervise(_ children: () -> [any AnyTaskHandle], changed: Event) async throws {
    do {
        while true {
            if let failed = children().first(where: { $0.failure != nil }) { throw failed.failure! }
            if children().allSatisfy(\.isDone) { return }
            changed.clear()
            try await changed.wait()
        }
    } catch {
        for c in children() where !c.isDone { c.cancel() }
        var i = 0
        while i < children().count {
            // A child spawned while winding down (by a task that went on after its cancellation,
            // say when an offload it awaited completed) is cancelled too, or joining it could
            // wait for ever.
            let c = children()[i]
            if !c.isDone { c.cancel() }
            await c.join()
            i += 1
        }
        throw error
    }
}

/// A structured group of tasks (trio's nursery, asyncio's TaskGroup); see `withGroup`.
@KernelActor
public final class TaskGroupScope {
    public let name: String
    var children: [any AnyTaskHandle] = []
    let changed = Event()
    var closed = false

    init(name: String) { self.name = name }

    /// Starts a child task. Its failure cancels the whole group.
    @discardableResult
    public func spawn<T: Sendable>(
        _ name: String, _ body: @escaping @Sendable @KernelActor () async throws -> T
    ) -> TaskHandle<T> {
        precondition(!closed, "group '\(self.name)': spawn after the group finished")
        let h = Kernel.spawn(name, body)
        children.append(h)
        h.watch(changed)
        return h
    }
}

/// Runs `body` with a group it can spawn children into, and returns when the body and every
/// child have finished. The first failure (the body's or a child's) cancels all the others,
/// they are awaited, and that error is rethrown. Cancelling the caller cancels the group.
/// The body itself runs as the group's first child, named after the group, so a child's failure
/// interrupts it too while the caller stays uncancelled.
@KernelActor
public func withGroup<R: Sendable>(
    _ name: String = "group", _ body: @escaping @Sendable @KernelActor (TaskGroupScope) async throws -> R
) async throws -> R {
    let g = TaskGroupScope(name: name)
    let main = g.spawn(name) { try await body(g) }
    defer { g.closed = true }
    try await supervise({ g.children }, changed: g.changed)
    return try await main.value
}
