import Synchronization

/// A value behind a Mutex, for the few things other threads may read (run results, stats).
final class Locked<Value: Sendable>: Sendable {
    private let m: Mutex<Value>
    init(_ v: Value) { m = Mutex(v) }
    func get() -> Value { m.withLock { $0 } }
    func set(_ v: Value) { m.withLock { $0 = v } }
}
