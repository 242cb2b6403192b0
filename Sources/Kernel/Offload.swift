// offload: blocking or CPU-heavy work on a bounded pool of worker threads, resumed on the kernel.

import Glibc
import Synchronization

/// Runs `work` on a worker thread and resumes the task on the kernel thread with its result.
/// Use it for anything that blocks or computes for long: DNS, fsync of big files, compression.
/// The pool has `WorkerPool.size` threads; more offloads wait their turn in a queue.
///
/// Cancelling the task resumes it at once with `CancellationError`; the work itself cannot be
/// interrupted, runs to its end on the worker, and its result is dropped.
@KernelActor
public func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    let k = KernelExecutor.shared
    let box = OffloadBox<T>()
    k.offloadsInFlight += 1
    defer { k.offloadsInFlight -= 1 }
    return try await withTaskCancellationHandler {
        try await withUnsafeThrowingContinuation { (c: UnsafeContinuation<T, any Error>) in
            if box.arm(c) {
                WorkerPool.shared.submit {
                    box.finish(Result { try work() })
                }
            }
        }
    } onCancel: {
        box.finish(.failure(CancellationError()))
    }
}
