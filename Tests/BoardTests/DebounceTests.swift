import Board
import Kernel
import KernelTestSupport
import Testing

/// A raw line driven by a list of (time ms, level) changes, for the debouncer alone.
@KernelActor
final class ScriptedRaw: RawInput {
    let role = "button"
    var value = false
    var changes: [(Int64, Bool)]
    init(_ changes: [(Int64, Bool)]) { self.changes = changes }
    func level() throws -> Bool {
        while let c = changes.first, c.0 * 1_000_000 <= Kernel.now { value = c.1; changes.removeFirst() }
        return value
    }
    func nextEdge(until deadline: Int64) async throws -> EdgeEvent? {
        _ = try level()
        guard let c = changes.first else { try await sleep(until: deadline); return nil }
        let t = c.0 * 1_000_000
        if t > deadline { try await sleep(until: deadline); return nil }
        try await sleep(until: t)
        _ = try level()
        return EdgeEvent(rising: c.1, time: t)
    }
}

@Suite struct DebounceTests {
    /// (ms, level) raw changes → the debounced edges as "t=<first raw ms> rising|falling @<reported ms>".
    func run(_ changes: [(Int64, Bool)], debounce: Int, kind: EdgeKind = .both, count: Int) throws -> [String] {
        try kernelTest {
            let input = try DebouncedInput(ScriptedRaw(changes), debounceMilliseconds: debounce)
            var out: [String] = []
            for _ in 0..<count {
                let e = try await input.edge(kind)
                out.append("t=\(e.time / 1_000_000) \(e.rising ? "rising" : "falling") @\(Kernel.nowMilliseconds)")
            }
            return out
        }
    }

    @Test func bouncesCollapseIntoOneEdgeEach() throws {
        // Press at 100 with 4 ms of chatter, release at 400 with chatter.
        let raw: [(Int64, Bool)] = [(100, true), (101, false), (102, true), (104, false), (104, true),
                                    (400, false), (401, true), (403, false)]
        #expect(try run(raw, debounce: 20, count: 2) == ["t=100 rising @124", "t=400 falling @423"])
    }

    @Test func withoutDebounceEveryFlipCounts() throws {
        #expect(try run([(10, true), (11, false), (12, true)], debounce: 0, count: 3)
                == ["t=10 rising @10", "t=11 falling @11", "t=12 rising @12"])
    }

    @Test func aGlitchShorterThanTheWindowThatEndsWhereItStartedIsNoEdge() throws {
        // 5 flips inside the window end high, a later clean release gives the only other edge.
        #expect(try run([(100, true), (103, false), (200, true), (201, false), (202, true), (203, false), (204, true), (500, false)],
                        debounce: 20, count: 2) == ["t=200 rising @224", "t=500 falling @520"])
    }

    @Test func edgeKindFilters() throws {
        #expect(try run([(100, true), (300, false), (500, true), (700, false)], debounce: 10, kind: .falling, count: 2)
                == ["t=300 falling @310", "t=700 falling @710"])
    }
}
