// The cross-thread half of `offload` (Offload.swift): the worker threads, and the box that
// hands a result from a worker back to the kernel thread. Part of the unsafe core: the box and
// the pool are shared between threads, and Swift's checking sees only what the ThreadMutexes and
// atomics below guarantee.

import Glibc
import Synchronization

/// Something another thread finished that the kernel thread completes (resumes) itself.
protocol KernelCompletion: AnyObject, Sendable {
    /// On the kernel thread.
    func complete()
}

/// One offload's hand-over. The worker never touches the waiting task's continuation: it
/// stores the result and posts the box to the kernel's inbox, and the kernel thread resumes the
/// task. (Resumed from the worker, the runtime read the continuation's context in the task's
/// frame off the kernel thread while the task might already be running again: ThreadSanitizer
/// saw that as a race with the task's next `park`, since the runtime's own hand-over is
/// invisible to it.)
final class OffloadBox<T: Sendable>: KernelCompletion {
    private enum State {
        case idle
        case waiting(UnsafeContinuation<T, any Error>)
        case ready(UnsafeContinuation<T, any Error>, Result<T, any Error>)
        case finished
    }
    private let state = ThreadMutex<State>(.idle)

    /// Stores the continuation; false (and resumed with the error) if cancelled before.
    func arm(_ c: UnsafeContinuation<T, any Error>) -> Bool {
        let armed = state.withLock { s -> Bool in
            if case .idle = s {
                s = .waiting(c)
                return true
            }
            return false
        }
        if !armed { c.resume(throwing: CancellationError()) }
        return armed
    }

    /// From any thread: the outcome, if nothing came first (a result or a cancellation). The
    /// task resumes on the kernel thread: at once when called there, else through the inbox.
    func finish(_ r: Result<T, any Error>) {
        let first = state.withLock { s -> Bool in
            switch s {
            case .waiting(let c):
                s = .ready(c, r)
                return true
            case .idle:
                s = .finished   // cancelled before it was armed: `arm` resumes with the error
                return false
            case .ready, .finished:
                return false
            }
        }
        guard first else { return }
        let k = KernelExecutor.shared
        if k.onKernelThread { complete() } else { k.inbox.post { $0.completions.append(self) } }
    }

    func complete() {
        let ready = state.withLock { s -> (UnsafeContinuation<T, any Error>, Result<T, any Error>)? in
            guard case .ready(let c, let r) = s else { return nil }
            s = .finished
            return (c, r)
        }
        if let (c, r) = ready { c.resume(with: r) }
    }
}

/// The worker threads behind `offload`: plain pthreads, started on first use, never the Swift
/// global pool (so the kernel's one-thread rule holds for everything else).
// safety: `size` and `sem` are set in init and never change; `queue` is a ThreadMutex and `started`
// an atomic; sem_t is made for use from any thread. Nothing else is stored.
public final class WorkerPool: @unchecked Sendable {
    public static let shared = WorkerPool(size: max(2, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))))

    public let size: Int
    private let queue = ThreadMutex<[@Sendable () -> Void]>([])
    private let sem: UnsafeMutablePointer<sem_t>
    private let started = Atomic<Bool>(false)

    init(size: Int) {
        self.size = size
        sem = .allocate(capacity: 1)
        sem_init(sem, 0, 0)
    }

    func submit(_ work: @escaping @Sendable () -> Void) {
        if !started.exchange(true, ordering: .acquiringAndReleasing) { startThreads() }
        queue.withLock { $0.append(work) }
        sem_post(sem)
    }

    private func startThreads() {
        for _ in 0..<size {
            var tid = pthread_t()
            // safety: one retain per thread, taken back (released) by that thread alone; the pool
            // is a never-freed singleton anyway.
            let ctx = Unmanaged.passRetained(self).toOpaque()
            let r = pthread_create(&tid, nil, { arg in
                Unmanaged<WorkerPool>.fromOpaque(arg!).takeRetainedValue().workLoop()
            }, ctx)
            precondition(r == 0, "firmloop: cannot start an offload worker thread (pthread_create: \(r))")
            pthread_detach(tid)
        }
    }

    private func workLoop() -> Never {
        while true {
            while sem_wait(sem) != 0 {}   // EINTR
            let work = queue.withLock { $0.removeFirst() }
            work()
        }
    }
}
