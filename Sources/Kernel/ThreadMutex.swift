import Glibc

/// A value behind a `pthread_mutex_t`, for state threads share (the kernel's inbox, the offload
/// pool's queue, the outbox's connection). The same shape as `Synchronization.Mutex`
/// (`withLock`), and the lock ThreadSanitizer sees: Swift's `Mutex` waits on a raw futex when
/// contended, which TSan cannot see, so it reported races on data the lock did guard (issue 16).
/// Not reentrant; never held across an await (`withLock`'s body is synchronous).
// safety: `value` is read and written only inside `withLock`, between pthread_mutex_lock and
// unlock, so at most one thread touches it at a time, with the lock's acquire and release
// ordering; the mutex lives at a fixed heap address for the object's life.
public final class ThreadMutex<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, holding the lock.
    @inline(__always)
    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
