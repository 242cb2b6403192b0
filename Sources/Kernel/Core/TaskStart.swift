// ⚠️ Unsafe core: kernel thread only (see README.md in this folder).
//
// Starting a task: its record in the task table, bound to the Swift task before its first
// job runs, and the runner that is its whole life.

extension KernelExecutor {
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
