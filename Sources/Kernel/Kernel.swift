import CSystem
import Glibc

/// Where the kernel's time comes from.
public enum KernelClock: Sendable, Equatable {
    /// CLOCK_MONOTONIC: real time; an idle kernel blocks in epoll until the next deadline.
    case monotonic
    /// Virtual time starting at `start` nanoseconds: when nothing is runnable the clock jumps to
    /// the next deadline (trio's autojump), so a simulated day takes as long as its work does.
    /// File descriptors are still polled, without blocking while a timer is pending, and a task
    /// that only ever `yield()`s keeps the clock still (time moves when everyone waits).
    /// If every task waits and nothing can wake them, `Kernel.run` throws `KernelError.deadlock`.
    case virtual(start: Int64 = 0)
}

/// One job: a task's run between two awaits (see `KernelOptions.onJob`).
public struct JobRecord: Sendable {
    public let task: String
    /// Kernel time (ns) the job started: on the virtual clock, the virtual time it ran at.
    public let start: Int64
    /// Real time the job took.
    public let nanoseconds: Int64
}

/// A task ran longer than the budget between two awaits.
public struct OverBudget: Sendable, CustomStringConvertible {
    public let task: String
    public let nanoseconds: Int64
    public let budgetNanoseconds: Int64

    public var description: String {
        "firmloop kernel: task '\(task)' held the CPU for \(Self.ms(nanoseconds)) without awaiting "
            + "(budget \(Self.ms(budgetNanoseconds))); every other task waited that long"
    }

    static func ms(_ ns: Int64) -> String {
        let tenths = (ns + 50_000) / 100_000
        return "\(tenths / 10).\(tenths % 10) ms"
    }

    public static let printToStandardError: @Sendable (OverBudget) -> Void = { report in
        writeAll(2, report.description + "\n")
    }
}

public struct KernelOptions: Sendable {
    public var clock: KernelClock
    /// A stretch between two awaits longer than this is reported (asyncio's debug mode warns at 100 ms).
    public var budgetMilliseconds: Int
    public var onOverBudget: @Sendable (OverBudget) -> Void
    /// When `run`'s body returns, the tasks still running are cancelled and get this long (real
    /// time) to finish; any still running then are named on stderr and abandoned.
    public var shutdownGraceMilliseconds: Int
    /// Called on the kernel thread as `run` returns, with the run's per-name task accounting.
    public var onFinish: (@Sendable ([TaskStats]) -> Void)?
    /// Tracing: called on the kernel thread after every job (one run of a task between two
    /// awaits) with its task, start and length. Off (nil) by default; for trace exports.
    public var onJob: (@Sendable (JobRecord) -> Void)?
    /// How long before a timer's deadline the kernel stops blocking in epoll and watches the
    /// clock instead (real clock only). Waking from a blocking wait takes the OS tens of
    /// microseconds (more in a VM); waking that much early and spinning the rest makes
    /// deadlines exact, for at most this much CPU per timer wake-up. 0: block until the
    /// deadline itself.
    public var spinMicroseconds: Int

    public init(clock: KernelClock = .monotonic, budgetMilliseconds: Int = 50,
                onOverBudget: @escaping @Sendable (OverBudget) -> Void = OverBudget.printToStandardError,
                shutdownGraceMilliseconds: Int = 5000,
                onFinish: (@Sendable ([TaskStats]) -> Void)? = nil,
                onJob: (@Sendable (JobRecord) -> Void)? = nil,
                spinMicroseconds: Int = 100) {
        self.clock = clock
        self.budgetMilliseconds = budgetMilliseconds
        self.onOverBudget = onOverBudget
        self.shutdownGraceMilliseconds = shutdownGraceMilliseconds
        self.onFinish = onFinish
        self.onJob = onJob
        self.spinMicroseconds = spinMicroseconds
    }
}

public enum KernelError: Error, Equatable, CustomStringConvertible {
    case alreadyRunning(nested: Bool)
    case deadlock(waiting: [String])
    case badDescriptor(fd: Int32, operation: String)
    case notPollable(fd: Int32)
    case closed(fd: Int32)
    case descriptorBusy(fd: Int32, write: Bool, waiter: String)
    case channelClosed(name: String)
    case notInKernelTask(operation: String)
    case system(call: String, errno: Int32, detail: String)

    public var description: String {
        switch self {
        case .alreadyRunning(let nested):
            return nested
                ? "Kernel.run called from inside a running kernel: use spawn(name:) to start more work"
                : "Kernel.run called while another thread is running a kernel: one kernel runs at a time per process"
        case .deadlock(let waiting):
            return "kernel deadlock: every task waits and nothing can wake them: " + waiting.joined(separator: ", ")
        case .badDescriptor(let fd, let op):
            return "\(op)(fd: \(fd)): fd \(fd) is not an open file descriptor (EBADF)"
        case .notPollable(let fd):
            return "fd \(fd) does not support readiness waits (EPERM from epoll: a regular file or directory?)"
        case .closed(let fd):
            return "fd \(fd) was closed while a task waited on it"
        case .descriptorBusy(let fd, let write, let waiter):
            return "fd \(fd): task '\(waiter)' already waits for it to be \(write ? "writable" : "readable"); one waiter per direction"
        case .channelClosed(let name):
            return "channel '\(name)' is closed: send after close()"
        case .notInKernelTask(let op):
            return "\(op) must be called from a task the kernel started (Kernel.run or spawn)"
        case .system(let call, let e, let detail):
            return "\(call) failed for \(detail): \(String(cString: strerror(e))) (errno \(e))"
        }
    }
}

/// `withTimeout(ms:)` ran out of time.
public struct TimeoutError: Error, Equatable, CustomStringConvertible {
    public let milliseconds: Int
    public var description: String { "timed out after \(milliseconds) ms" }
}

// The kernel's entry points and clock, as module-level functions: called qualified, they read
// `Kernel.run { }`, `Kernel.now`, `Kernel.stats()` (the module holds no type of its own name,
// so `Kernel.TaskStats` and the rest qualify too).

/// Runs `body` as the task "main" on a new kernel on the calling thread, like `asyncio.run`:
/// returns when it does. Tasks still running then are cancelled and awaited.
///
/// Throws `KernelError.alreadyRunning` if a kernel is running (nested or on another thread),
/// and, on the virtual clock, `KernelError.deadlock` if every task ends up waiting with nothing
/// able to wake them.
public func run<T: Sendable>(
    _ options: KernelOptions = KernelOptions(),
    _ body: @escaping @Sendable @KernelActor () async throws -> T
) throws -> T {
    let k = KernelExecutor.shared
    try k.begin(options)
    let box = ResultBox<T>()
    _ = k.start(name: "main") {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
    }
    let outcome = k.drive(until: { box.isDone })
    // A root that finished is the only way out of the first drive but a deadlock, so the
    // shutdown's own outcome adds nothing: stragglers are reported by shutdown itself.
    _ = k.shutdown(grace: Int64(options.shutdownGraceMilliseconds) * 1_000_000)
    let stats = k.end()
    options.onFinish?(stats)
    if case .deadlock(let names) = outcome { throw KernelError.deadlock(waiting: names) }
    return try box.result!.get()
}

/// `run` with the virtual clock.
public func simulate<T: Sendable>(
    start: Int64 = 0, _ body: @escaping @Sendable @KernelActor () async throws -> T
) throws -> T {
    try run(KernelOptions(clock: .virtual(start: start)), body)
}

/// The kernel's time in nanoseconds (virtual or monotonic, as the kernel was started).
@KernelActor public var now: Int64 { KernelExecutor.shared.now }

/// A timer tolerance for waits whose exact moment does not matter (polls, batching,
/// heartbeats, schedules of 100 ms and more): 1 ms, more than the kernel's spin window, so
/// such a wait never costs CPU watching the clock (`sleep(until:tolerance:)`).
public let coarseTolerance: Int64 = 1_000_000

/// Milliseconds since the kernel's clock started, for traces.
@KernelActor public var nowMilliseconds: Int64 { KernelExecutor.shared.now / 1_000_000 }

/// Per-name task accounting so far (live and finished tasks).
@KernelActor public func stats() -> [TaskStats] { KernelExecutor.shared.tasks.statsByName() }

/// The name of the running task ("(runtime)" for work the kernel did not spawn).
@KernelActor public var currentTaskName: String {
    let k = KernelExecutor.shared
    return k.tasks[k.current].stats.name
}


/// True on the thread running the kernel, inside `Kernel.run`.
public var isKernelThread: Bool { KernelExecutor.shared.onKernelThread }

// safety: written once by the "main" task on the kernel thread, read by `run` on the same
// thread after the drive loop saw `isDone`.
final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>? { didSet { isDone = result != nil } }
    /// Checked every loop turn: a plain Bool, so the check needs no generic metadata.
    private(set) var isDone = false
}

/// All of `text` to `fd` with write(2), from any thread (no FILE* buffer, no Foundation): short
/// writes and EINTR retried; another error drops the rest. For blocking descriptors (stdout,
/// stderr, the journal's stream); a non-blocking one goes through the kernel's waits instead.
public func writeAll(_ fd: Int32, _ text: String) {
    var t = text
    t.withUTF8 { b in
        var off = 0
        while off < b.count {
            let n = Glibc.write(fd, b.baseAddress! + off, b.count - off)
            if n <= 0 { if n < 0 && errno == EINTR { continue }; return }
            off += n
        }
    }
}

/// CLOCK_MONOTONIC in nanoseconds, from any thread: the real-time kernel clock's source.
public func monotonicNanoseconds() -> Int64 { fl_monotonic_ns() }
