// ⚠️ Unsafe core: see README.md in this folder.
//
// The kernel as the process's default executor: Swift 6.3's ExecutorFactory hook (SPI
// `ExperimentalCustomExecutors`, the runtime's `swift_createExecutors`).
//
// Why: a task that prefers an executor (`Task(executorPreference:)`, the fallback) makes the
// runtime look the preference up in the task's status records, under the task's status-record
// lock, at every switch and every wake-up: about a quarter of a `yield()` (perf). A task on
// the process's default executor has no preference to look up; its nonisolated code goes to
// the default executor, which is the kernel, so everything still runs on the one kernel thread.
//
// The switch is `kernelIsDefaultExecutor` in Package.swift (the define FIRMLOOP_DEFAULT_EXECUTOR);
// without it, with a compiler before 6.3 (which has no such hook: Debian's 6.2.3, which the
// aarch64 cross build uses), or when the process never calls `makeKernelDefaultExecutor()` (the test runner,
// whose harness needs a thread pool), or with FIRMLOOP_EXECUTOR=preference in the environment,
// tasks prefer the kernel as before.
//
// The risk the SPI carries: it is experimental (its shape may change in a later toolchain;
// the define turns it off without touching anything else), it must be installed before the
// first task exists, and it is process-wide: global-executor work that other code starts
// runs only while a kernel runs (`enqueue` warns once if one arrives while none does).

#if FIRMLOOP_DEFAULT_EXECUTOR && compiler(>=6.3)
@_spi(ExperimentalCustomExecutors) import _Concurrency
import Glibc

struct KernelExecutorFactory: ExecutorFactory {
    static var mainExecutor: any MainExecutor { PlatformExecutorFactory.mainExecutor }
    static var defaultExecutor: any TaskExecutor { KernelExecutor.shared }
}
#endif

/// Makes the kernel the process's default executor, so kernel tasks need no executor
/// preference (a faster switch). Call it first thing in `main`, before any task exists; the
/// firmloop command line does (`FirmloopCommand.main`). False, and nothing changed, when the
/// package was built without the switch or by a compiler before 6.3, or FIRMLOOP_EXECUTOR=preference
/// is set.
@discardableResult
public func makeKernelDefaultExecutor() -> Bool {
    #if FIRMLOOP_DEFAULT_EXECUTOR && compiler(>=6.3)
    if let e = getenv("FIRMLOOP_EXECUTOR"), String(cString: e) == "preference" { return false }
    let k = KernelExecutor.shared
    if !k.isDefault {
        _createExecutors(factory: KernelExecutorFactory.self)
        k.isDefault = true
    }
    return true
    #else
    return false
    #endif
}

/// How kernel tasks find the kernel: "default executor" or "executor preference" (`--version`).
public var kernelExecutorMode: String {
    KernelExecutor.shared.isDefault ? "process default executor" : "task executor preference"
}
