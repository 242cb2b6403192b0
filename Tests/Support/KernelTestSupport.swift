// Shared by every test target: Swift Testing runs all suites of all targets in one process, in
// parallel, and a process runs one kernel at a time.
import Glibc
import Kernel
import Synchronization

private let kernelTurn = Mutex<Void>(())

/// Runs `body` on a kernel (virtual clock unless told otherwise), waiting for any other test's
/// kernel to finish first.
public func kernelTest<T: Sendable>(
    virtual: Bool = true, options: KernelOptions? = nil,
    _ body: @escaping @Sendable @KernelActor () async throws -> T
) throws -> T {
    try kernelTurn.withLock { _ in
        try Kernel.run(options ?? KernelOptions(clock: virtual ? .virtual() : .monotonic), body)
    }
}

/// Runs synchronous code that starts kernels itself (a `Simulation`), in turn with the others.
public func withKernelTurn<T>(_ body: () throws -> T) rethrows -> T {
    try kernelTurn.withLock { _ in try body() }
}

/// A value behind a Mutex, for results handed back from other threads and callbacks.
public final class Locked<Value: Sendable>: Sendable {
    private let m: Mutex<Value>
    public init(_ v: Value) { m = Mutex(v) }
    public func get() -> Value { m.withLock { $0 } }
    public func set(_ v: Value) { m.withLock { $0 = v } }
}

public func readFile(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = fread(&buf, 1, buf.count, f)
        if n <= 0 { break }
        bytes += buf[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// The repository's root (for boards/ and ../shared/fixtures), from this file's path.
public let repositoryRoot: String = {
    let f = "\(#filePath)"
    var parts = f.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)   // Tests/Support/KernelTestSupport.swift
    return parts.joined(separator: "/")
}()
