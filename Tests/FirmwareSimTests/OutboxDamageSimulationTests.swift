import Board
import Firmware
import FirmwareSim
import Glibc
import KernelTestSupport
import SimBoard
import SimWorld
import Testing

/// Issue 30 on the whole firmware: a device whose outbox an SD card damaged while it was off
/// starts, publishes, goes on with its numbering (or starts a new epoch), reports the damage in
/// every snapshot until a command acknowledges it, and counts what was lost.
@Suite struct OutboxDamageSimulationTests {
    func run(_ board: String, outbox: String, seconds: Int64, scenario: String? = nil) throws -> (Simulation.Report, FirmwareSimulation.Summary) {
        let d = try BoardDescription.parse(board, file: "\(repositoryRoot)/boards/test.json")
        let sc = try scenario.map { try Scenario.parse($0, file: "damage.json", board: d) }
        var r = try FirmwareSimulation(simulation: Simulation(board: d, seed: 3, durationNanoseconds: seconds * 1_000_000_000, scenario: sc))
        r.outboxPath = outbox
        r.firmware.snapshotIntervalMilliseconds = 200
        return try withKernelTurn { try r.run() }
    }

    @Test(arguments: OutboxDamage.allCases)
    func theFirmwareStartsOnADamagedOutboxAndSaysSoUntilAcknowledged(_ damage: OutboxDamage) throws {
        let dir = temporaryDirectory("firmloop-damage-sim")
        let path = dir + "/sim.outbox"
        // A minute with the broker out of reach: every snapshot waits in the outbox.
        let (_, first) = try run(outageBoard(at: "0s", for: "1h"), outbox: path, seconds: 60)
        let before = try { try Outbox(path: path).countsNow() }()   // closed again at once
        #expect(before.pending == first.taken && before.pending > 200)
        try damage.apply(to: path)

        let next = damage.seqFound ? before.nextSeq : 1
        let lost = damage.metaReadable ? before.pending : 0
        let epoch = damage.metaReadable ? ",\\\"epoch\\\":\(before.epoch)," : ",\\\"epoch\\\":"   // as the scenario's JSON holds it
        let scenario = """
            {"name": "a damaged outbox", "steps": [
              {"expect_publish": "firmloop/sim/snapshot", "contains": "\\"seq\\":\(next)\(epoch)", "within": "10s"},
              {"expect_publish": "firmloop/sim/snapshot", "contains": "\\"lost\\":\(lost),\\"damaged\\":1}", "within": "2s"},
              {"expect_publish": "firmloop/sim/snapshot", "contains": "\\"role\\":\\"outbox.damaged\\",\\"error\\":\\"damaged (", "within": "2s"},
              {"wait": "5s"},
              {"expect_publish": "firmloop/sim/snapshot", "contains": "\\"role\\":\\"outbox.damaged\\"", "within": "2s"},
              {"publish": "firmloop/sim/cmd", "payload": {"id": "c1", "clear_fault": "outbox"}},
              {"expect_publish": "firmloop/sim/ack", "contains": "clear_fault: expected one of \\\\\\"outbox.damaged\\\\\\"", "within": "2s"},
              {"publish": "firmloop/sim/cmd", "payload": {"id": "c2", "clear_fault": "outbox.damaged"}},
              {"expect_publish": "firmloop/sim/ack", "contains": "{\\"id\\":\\"c2\\",\\"ok\\":true}", "within": "2s"},
              {"wait": "5s"}]}
            """
        let (r, s) = try run(outageBoard(at: "2h", for: "1s"), outbox: path, seconds: 30, scenario: scenario)
        #expect(r.failure == nil && r.scenarioPassed == true, "\(damage): \(r.failure ?? "")")
        #expect(s.violations.isEmpty, "\(s.violations)")
        #expect(s.faults["outbox.damaged"] == nil, "acknowledged, yet still a fault: \(s.faults)")
        #expect(s.firstDelivered == next, "the numbering did not go on from \(next)")
        #expect(s.delivered + s.pending == s.taken && s.delivered > 20, "\(s.delivered) + \(s.pending) of \(s.taken)")

        // Acknowledged on disk; the loss counted; one copy kept.
        let after = try Outbox(path: path)
        #expect(after.damageNow().isEmpty)
        let c = try after.countsNow()
        #expect(c.lost == Int64(lost) && c.damaged == 1)
        #expect(damage.metaReadable ? c.epoch == before.epoch : c.epoch > before.epoch)
        #expect(files(in: dir, prefix: "sim.outbox.damaged-").count == 1)
    }
}
