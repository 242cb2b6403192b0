/// The kernel's global actor. Everything a firmware task does between two awaits runs here,
/// on the one kernel thread, so a task owns all `@KernelActor` state until it awaits, and the
/// compiler proves no other thread touches it.
@globalActor
public actor KernelActor {
    public static let shared = KernelActor()

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        KernelExecutor.shared.asUnownedSerialExecutor()
    }

    /// Runs `body` as `@KernelActor` code from synchronous code that is known to be on the kernel
    /// thread (a callback the kernel calls, say). Traps with a clear message anywhere else.
    public static func assumeIsolated<T: Sendable>(
        _ body: @KernelActor () throws -> T, file: StaticString = #fileID, line: UInt = #line
    ) rethrows -> T {
        precondition(KernelExecutor.shared.onKernelThread,
                     "KernelActor.assumeIsolated called off the kernel thread", file: file, line: line)
        return try withoutActuallyEscaping(body) { escapable in
            // safety: the precondition above proved we are on the kernel thread, the one thread
            // @KernelActor code runs on; dropping the isolation from the function type changes
            // nothing about where it runs (the standard library's assumeIsolated does the same).
            try unsafeBitCast(escapable, to: (() throws -> T).self)()
        }
    }
}
