import Glibc
import Synchronization
import Testing
@testable import Kernel

import KernelTestSupport

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

/// A non-blocking AF_UNIX socketpair.
func socketPair() -> (Int32, Int32) {
    var fds: [Int32] = [0, 0]
    let r = socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds)
    precondition(r == 0)
    return (fds[0], fds[1])
}

