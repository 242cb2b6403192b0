import Board
import Kernel
import KernelTestSupport
import SimBoard
import Testing

/// Value roles in simulation: seeded, on the virtual clock, from the board file's sim.values.
@Suite struct SimValueTests {
    static let json = """
        {"board": "t", "chip": "sim", "roles": {"probe": {"type": "value", "path": "sim:probe", "scale": 0.001}},
         "sim": {"values": {"probe": {"base": 20, "swing": 4, "period": "4h", "noise": 0.1}}}}
        """

    /// Readings at 0, 1 h, 2 h, 3 h.
    static func readings(seed: UInt64) throws -> [Double] {
        let d = try board(json)
        return try kernelTest {
            let b = try SimHardware(d, seed: seed)
            defer { b.close() }
            let probe = try b.value("probe")
            var out: [Double] = []
            for _ in 0..<4 {
                out.append(try await probe.read())
                try await sleep(ms: 3_600_000)
            }
            return out
        }
    }

    @Test func aSeedGivesTheSameDayAndTheSwingShows() throws {
        let a = try Self.readings(seed: 3), b = try Self.readings(seed: 3), c = try Self.readings(seed: 4)
        #expect(a == b)
        #expect(a != c)
        // base 20, +4 at a quarter period (1 h of 4 h), -4 at three quarters; noise σ 0.1.
        #expect(abs(a[0] - 20) < 0.5 && abs(a[1] - 24) < 0.5 && abs(a[2] - 20) < 0.5 && abs(a[3] - 16) < 0.5, "\(a)")
        #expect(SimHardware.isSimulated(try board(Self.json)))
    }

    @Test func theSectionIsChecked() throws {
        do {
            try SimHardware.validate(try board("""
                {"board": "t", "chip": "sim", "roles": {"led": {"type": "output", "line": "GPIO1"}},
                 "sim": {"values": {"led": {"base": 1}, "x": {"bsae": 2}}}}
                """))
            Issue.record("accepted")
        } catch {
            #expect("\(error)".contains("sim.values.led: no value role 'led' on this board"), "\(error)")
            #expect("\(error)".contains("sim.values.x: no value role 'x'"), "\(error)")
        }
    }
}
