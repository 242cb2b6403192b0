import Glibc
import Synchronization
import Testing
@testable import Kernel

/// One kernel per process: Swift Testing runs tests in parallel, so every test that starts a
/// kernel goes through here and waits its turn.
private let kernelTurn = Mutex<Void>(())

func kernelTest<T: Sendable>(
    virtual: Bool = true, options: KernelOptions? = nil,
    _ body: @escaping @Sendable @KernelActor () async throws -> T
) throws -> T {
    try kernelTurn.withLock { _ in
        try Kernel.run(options ?? KernelOptions(clock: virtual ? .virtual() : .monotonic), body)
    }
}

/// Collects "t=<ms> <text>" lines for exact-trace tests (MicroPython's .exp files).
@KernelActor
final class Trace {
    private(set) var lines: [String] = []
    nonisolated init() {}
    func callAsFunction(_ s: String) { lines.append("t=\(Kernel.nowMilliseconds) \(s)") }
}

/// Compares a trace with `traces/<name>.exp` beside this file, line by line.
func expectTrace(_ lines: [String], _ name: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let file = "\(#filePath)"
    let dir = String(file[..<file.lastIndex(of: "/")!])
    let path = dir + "/traces/" + name + ".exp"
    guard let expected = readFile(path) else {
        let got = lines.joined(separator: "\n")
        Issue.record("missing expected trace \(path); this run printed:\n\(got)", sourceLocation: sourceLocation)
        return
    }
    let want = expected.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    #expect(lines == want, "trace \(name) differs:\n--- expected\n\(want.joined(separator: "\n"))\n--- got\n\(lines.joined(separator: "\n"))", sourceLocation: sourceLocation)
}

func readFile(_ path: String) -> String? {
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

/// A non-blocking AF_UNIX socketpair.
func socketPair() -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    let r = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
    precondition(r == 0)
    return (fds[0], fds[1])
}

/// A value behind a Mutex, for results handed back from other threads and callbacks.
final class Locked<Value: Sendable>: Sendable {
    private let m: Mutex<Value>
    init(_ v: Value) { m = Mutex(v) }
    func get() -> Value { m.withLock { $0 } }
    func set(_ v: Value) { m.withLock { $0 = v } }
}
