import Board
import Firmware
import Glibc
import FirmwareSim
import Kernel
import KernelTestSupport
import SimBoard
import SimWorld
import Testing

/// The firmware on `board` (a path, or JSON text) in virtual time.
func simulateFirmware(_ board: String = "\(repositoryRoot)/boards/sim.json", seed: UInt64 = 1, duration: String,
                      scenario: String? = nil, interval: Int = 5000, capacity: Int = 100_000) throws -> (Simulation.Report, FirmwareSimulation.Summary) {
    let d = board.hasPrefix("{") ? try BoardDescription.parse(board, file: "\(repositoryRoot)/boards/test.json")
                                 : try BoardDescription.load(path: board)
    let sc = try scenario.map { try Scenario.load(path: $0, board: d) }
    let sim = Simulation(board: d, seed: seed, durationNanoseconds: DurationText.parse(duration)!, scenario: sc)
    var run = try FirmwareSimulation(simulation: sim)
    run.firmware.snapshotIntervalMilliseconds = interval
    run.outboxCapacity = capacity
    return try withKernelTurn { try run.run() }
}

/// A board with the Pi's roles, a GPS, no random presses, and one long outage.
func outageBoard(at: String, for length: String) -> String {
    """
    {"board": "outage", "chip": "sim",
     "roles": {
       "status_led": {"type": "output", "line": "GPIO17"},
       "relay":      {"type": "output", "line": "GPIO27"},
       "button":     {"type": "input",  "line": "GPIO22", "bias": "pull-up", "active_low": true, "debounce_ms": 20},
       "gps_uart":   {"type": "serial", "device": "sim:gps", "settings": "9600 8N1"}},
     "sim": {"uarts": {"gps_uart": {"nmea": "nmea/neo-m8n.log"}},
             "network": {"latency": "20ms", "outages": [{"at": "\(at)", "for": "\(length)"}]}}}
    """
}

@Suite struct FirmwareSimulationTests {
    @Test func aDayOfTheSimBoardLosesNothingAndIsReproducible() throws {
        let (a, s) = try simulateFirmware(seed: 7, duration: "6h")
        let (b, t) = try simulateFirmware(seed: 7, duration: "6h")
        #expect(a.failure == nil)
        #expect(s.violations.isEmpty, "\(s.violations)")
        #expect(a.digest == b.digest && s.taken == t.taken && s.delivered == t.delivered)
        // One at the start, one per 5 s, one per debounced press.
        #expect(s.taken == 1 + 6 * 720 + s.extra)
        #expect(s.extra > 0)
        // Every snapshot reached the broker or waits in the outbox; the world's faults happened.
        #expect(s.delivered + s.pending == s.taken)
        #expect(s.lost == 0 && s.dropped == 0)
        #expect(s.mqtt.connects > 1)
        #expect(s.uart.lines > 6 * 3600 * 10)
        #expect(s.lastFix?.mode == 3)
    }

    @Test func theScenarioOfCommandsPressesAndAnOutagePasses() throws {
        let (r, s) = try simulateFirmware(duration: "1h", scenario: "\(repositoryRoot)/boards/scenarios/firmware.json")
        #expect(r.failure == nil, "\(r.failure ?? "")")
        #expect(r.scenarioPassed == true)
        #expect(s.commands == 6 && s.commandErrors == 3)
        #expect(s.violations.isEmpty, "\(s.violations)")
        #expect(r.outputs.first { $0.role == "relay" }?.value == false)
    }

    /// Issue 14: the world's broker speaking TLS (boards/sim-tls.json): the same TLS code as on
    /// a real socket, over the simulated network's resets and outages; nothing lost, and the
    /// same seed replays to the same digest (TLS's random bytes are kept out of it).
    @Test func tlsToTheSimulatedBrokerReplaysAndLosesNothing() throws {
        let (r1, s1) = try simulateFirmware("\(repositoryRoot)/boards/sim-tls.json", duration: "8h")
        let (r2, s2) = try simulateFirmware("\(repositoryRoot)/boards/sim-tls.json", duration: "8h")
        #expect(r1.failure == nil, "\(r1.failure ?? "")")
        #expect(s1.violations.isEmpty, "\(s1.violations)")
        #expect(s1.lost == 0 && s1.delivered > 5000)
        #expect(s1.mqtt.connects >= 2, "a reconnect (a new TLS handshake) after a reset or an outage: \(s1.mqtt)")
        #expect(r1.digest == r2.digest && s1.delivered == s2.delivered)
    }

    /// Issue 14, restore in the simulator: a run switches the relay on through `…/relay/set`;
    /// the next run on the same outbox (a restart) starts with it on. Without "restore", the
    /// board's `initial` (off) applies.
    @Test(arguments: [true, false])
    func aRestoredOutputStartsTheNextRunAtItsLastCommandedValue(_ restore: Bool) throws {
        let dir = temporaryDirectory("firmloop-restore")
        let board = try BoardDescription.parse("""
            {"board": "sim-restore", "chip": "sim", "roles": {"relay": {"type": "output", "line": "GPIO27", "restore": \(restore)}}}
            """, file: dir + "/board.json")
        let scenarioFile = dir + "/on.json"
        let f = fopen(scenarioFile, "w")
        fputs(#"{"name": "relay on", "steps": [{"expect_publish": "firmloop/sim/status", "contains": "online", "within": "5s"}, "#
              + #"{"publish": "firmloop/sim/relay/set", "payload": "ON"}, {"expect_publish": "firmloop/sim/relay/state", "contains": "ON", "within": "2s"}, "#
              + #"{"expect_pin": "relay", "value": true}, {"wait": "5s"}]}"#, f)
        fclose(f)
        func run(_ scenario: Scenario?) throws -> (Simulation.Report, FirmwareSimulation.Summary) {
            var r = try FirmwareSimulation(simulation: Simulation(board: board, seed: 1, durationNanoseconds: 60_000_000_000, scenario: scenario))
            r.outboxPath = dir + "/outbox.db"
            return try withKernelTurn { try r.run() }
        }
        let (first, _) = try run(try Scenario.load(path: scenarioFile, board: board))
        #expect(first.scenarioPassed == true, "\(first.failure ?? "")")
        #expect(first.outputs.first { $0.role == "relay" }?.value == true)
        let (second, _) = try run(nil)
        #expect(second.outputs.first { $0.role == "relay" }?.value == restore)
    }

    /// Issue 26: the sensors scenario on the stock simulated board (the weather's values, a
    /// climate sensor silent for 40 s is a fault in snapshots and clears, a fan's duty by
    /// command and by `…/fan/set`, refused out of range); then the same board started again
    /// on the same outbox has the fan at its last duty (`"restore": true`).
    @Test func theSensorsScenarioPassesAndTheFansDutySurvivesARestart() throws {
        let dir = temporaryDirectory("firmloop-sensors")
        defer { removeDirectory(dir) }
        let board = try BoardDescription.load(path: "\(repositoryRoot)/boards/sim.json")
        func run(_ scenario: Scenario?, _ duration: Int64) throws -> (Simulation.Report, FirmwareSimulation.Summary) {
            var r = try FirmwareSimulation(simulation: Simulation(board: board, seed: 1, durationNanoseconds: duration, scenario: scenario))
            r.outboxPath = dir + "/outbox.db"
            return try withKernelTurn { try r.run() }
        }
        let sc = try Scenario.load(path: "\(repositoryRoot)/boards/scenarios/sensors.json", board: board)
        let (first, s) = try run(sc, 3_600_000_000_000)
        #expect(first.scenarioPassed == true, "\(first.failure ?? "")")
        #expect(first.pwm.first { $0.role == "fan" }?.duty == 0.6)
        let climate = s.sensors.first { $0.role == "climate" }
        #expect((climate?.failures ?? 0) >= 3 && (climate?.readings ?? 0) > 0)
        let (second, t) = try run(nil, 30_000_000_000)
        #expect(second.pwm.first { $0.role == "fan" }?.duty == 0.6)
        #expect(t.violations.isEmpty)
    }

    /// Issue 14: Home Assistant's switch on `…/relay/set` drives the relay and the retained
    /// state follows; an input's state follows a press; a plain ON queued by the broker through
    /// an outage is applied at the reconnect; an expired JSON command is not.
    @Test func theHomeAssistantScenarioPasses() throws {
        let (r, s) = try simulateFirmware(duration: "10m", scenario: "\(repositoryRoot)/boards/scenarios/home-assistant.json")
        #expect(r.failure == nil, "\(r.failure ?? "")")
        #expect(r.scenarioPassed == true)
        #expect(s.commands == 6 && s.commandErrors == 3)
        #expect(s.violations.isEmpty, "\(s.violations)")
        #expect(r.outputs.first { $0.role == "relay" }?.value == true)
    }

    @Test func aBacklogLongerThanTheWindowWaitsOnDiskNotInMemory() throws {
        // Two hours offline at one snapshot a second: 7,200 stored, then delivered; the client
        // never held more than its window.
        let (r, s) = try simulateFirmware(outageBoard(at: "10m", for: "2h"), duration: "150m", interval: 1000)
        #expect(r.failure == nil)
        #expect(s.violations.isEmpty, "\(s.violations)")
        #expect(s.taken == 1 + 9000)
        #expect(s.delivered + s.pending == s.taken && s.lost == 0)
        #expect(s.pending < 20)
        #expect(s.peakClientBacklog <= 256 + 16 && s.peakClientBacklog > 128)
        // The 7,200 rows the drain removed were collected once the client was idle, and so were
        // the 1,800 removed one by one at a snapshot a second after it.
        #expect(s.removedRows < 1800 / 2, "\(s.removedRows) removed rows left on disk")
    }

    @Test func removalsFromTheOutboxAreBatchedAtMostOnePerInterval() throws {
        // A snapshot every 10 ms, each acknowledged 2 ms later: one removal per ack would be
        // 6,000 commits in a minute; batched, at most one per `removeInterval` (20 ms).
        let fast = """
            {"board": "fast", "chip": "sim", "roles": {"relay": {"type": "output", "line": "GPIO27"}},
             "sim": {"network": {"latency": "1ms"}}}
            """
        let (r, s) = try simulateFirmware(fast, duration: "60s", interval: 10)
        #expect(r.failure == nil)
        #expect(s.violations.isEmpty, "\(s.violations)")
        #expect(s.taken > 5900)
        // Delivered, or the last few on their way as the run ends.
        #expect(s.lost == 0 && s.delivered > s.taken - 10)
        let bound = 60_000_000_000 / OutboxForwarding.removeInterval + 1
        #expect(s.removals <= Int(bound) && s.removals > Int(bound) / 2, "\(s.removals) removals")
    }

    @Test func aFullOutboxDropsTheOldestCountedAndNothingElseIsLost() throws {
        // One hour offline at 5 s with room for 100: 720 stored during the outage, the oldest 620 dropped.
        let (r, s) = try simulateFirmware(outageBoard(at: "1m", for: "1h"), duration: "70m", capacity: 100)
        #expect(r.failure == nil)
        #expect(s.violations.isEmpty, "\(s.violations)")
        // The client still delivers the window it held when those were dropped from disk.
        #expect(s.dropped > 600)
        #expect(s.delivered + s.pending + s.undelivered == s.taken)
        #expect(s.undelivered <= s.dropped && s.undelivered > 300)
        #expect(s.lost == 0)
    }

    @Test func anUnreachableBrokerWithATinyOutboxDropsByPolicyOnly() throws {
        let refusing = """
            {"board": "refusing", "chip": "sim", "roles": {"relay": {"type": "output", "line": "GPIO27"}},
             "sim": {"network": {"refuse": 1}}}
            """
        let (_, s) = try simulateFirmware(refusing, duration: "10m", capacity: 1)
        #expect(s.taken == 121 && s.delivered == 0 && s.pending == 1 && s.dropped == 120)
        #expect(s.mqtt.connectFailures > 5 && s.mqtt.connects == 0)
        #expect(s.lost == 0 && s.violations.isEmpty)
    }

    @Test func theLossCheckCatchesANumberTheBrokerNeverSaw() throws {
        let d = try BoardDescription.load(path: "\(repositoryRoot)/boards/sim.json")
        var run = try FirmwareSimulation(simulation: Simulation(board: d, seed: 1, durationNanoseconds: 60_000_000_000))
        run.forgetAtBroker = [5]
        let (_, s) = try withKernelTurn { try run.run() }
        #expect(s.lost == 1 && s.firstLost == [5])
        #expect(s.violations == ["1 snapshot(s) lost: stored, never delivered, not in the outbox (first: 5)"])
        #expect(Snapshot.seq(in: Array(#"{"device":"d","seq":42,"x":1}"#.utf8)) == 42)
        #expect(Snapshot.seq(in: Array(#"{"device":"d"}"#.utf8)) == nil)
    }
}
