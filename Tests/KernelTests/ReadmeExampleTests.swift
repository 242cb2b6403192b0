import Glibc
import KernelTestSupport
import Testing
@testable import Kernel

/// The README's example, compiled and run (on the virtual clock), so the docs cannot rot; and
/// the README's block read and compared with the body run here, so neither drifts alone.
@Suite struct ReadmeExampleTests {
    /// The lines between `open` and the block's last `}` (the body of `Kernel.run { }` in
    /// the README, of `kernelTest { }` here), without indentation and blank lines.
    static func body(_ text: String, after open: String) -> [String] {
        func trim(_ l: String) -> String { String(l.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed()) }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { trim($0).hasPrefix(open) }) else { return [] }
        let indent = lines[start].prefix { $0 == " " }.count
        guard let end = lines[(start + 1)...].firstIndex(where: { $0.prefix { $0 == " " }.count == indent && trim($0) == "}" }) else { return [] }
        return lines[(start + 1)..<end].map(trim).filter { !$0.isEmpty }
    }

    static func read(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    @Test func theReadmeShowsExactlyTheCodeThisTestRuns() throws {
        let readme = try #require(Self.read(repositoryRoot + "/README.md"))
        let sections = readme.split(separator: "\n## ").filter { $0.hasPrefix("The kernel, in asyncio terms") }
        let section = try #require(sections.first)
        let shown = Self.body(String(section), after: "try Kernel.run {")
        let run = Self.body(try #require(Self.read(#filePath)), after: "try kernelTest {")
        #expect(!shown.isEmpty)
        #expect(shown == run, "README.md's kernel example and ReadmeExampleTests differ: change both")
    }

    @Test func readmeExampleRuns() throws {
        let printed = Locked<[String]>([])
        @Sendable func print(_ x: Any) { printed.set(printed.get() + ["\(x)"]) }
        @Sendable func readSensorBlocking() -> Double { 21.5 }

        try kernelTest {
            let readings = Channel<Double>(capacity: 16)  // asyncio.Queue(16): send waits when full

            spawn("sensor") {                             // asyncio.create_task(...)
                let tick = every(ms: 1000)                // drift-free: tick n at start + n s
                while true {
                    _ = try await tick.tick()
                    try await readings.send(try await offload { readSensorBlocking() })   // run_in_executor
                }
            }
            let logger = spawn("logger") {
                while let r = try await readings.receive() { print(r) }
            }

            do {
                try await withTimeout(ms: 4500) { try await logger.value }   // asyncio.timeout(4.5)
            } catch is TimeoutError {
                print(Kernel.stats())                     // per task: switches, run time, longest stretch
            }
        }
        let lines = printed.get()
        #expect(lines.count == 5, "four readings at 1-4 s, then the stats when the timeout ends the wait at 4.5 s")
        #expect(lines.prefix(4).allSatisfy { $0 == "21.5" })
        #expect(lines.last?.contains("logger") == true)
    }
}
