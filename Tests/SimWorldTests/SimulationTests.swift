import Board
import BoardDemo
import Kernel
import KernelTestSupport
import SimBoard
import SimWorld
import Testing

/// boards/sim.json's roles and GPS, without its random button presses (scenarios press).
let quietBoard = """
    {"board": "quiet", "chip": "sim",
     "roles": {
       "status_led": {"type": "output", "line": "GPIO17"},
       "relay":      {"type": "output", "line": "GPIO27"},
       "button":     {"type": "input",  "line": "GPIO22", "bias": "pull-up", "active_low": true, "debounce_ms": 20},
       "gps_uart":   {"type": "serial", "device": "sim:gps", "settings": "9600 8N1"},
       "console":    {"type": "serial", "device": "sim:console", "settings": "115200 8N1"}},
     "sim": {"uarts": {"gps_uart": {"nmea": "nmea/neo-m8n.log"}}, "network": {"latency": "20ms"}}}
    """

func simulate(_ file: String = "\(repositoryRoot)/boards/sim.json", seed: UInt64, duration: String,
              scenario: String? = nil, trace: String? = nil) throws -> Simulation.Report {
    let d = file == "quiet" ? try BoardDescription.parse(quietBoard, file: "\(repositoryRoot)/boards/quiet.json")
                            : try BoardDescription.load(path: file)
    let sc = try scenario.map { try Scenario.parse($0, file: "test-scenario.json", board: d) }
    let sim = Simulation(board: d, seed: seed, durationNanoseconds: DurationText.parse(duration)!, scenario: sc, tracePath: trace)
    return try withKernelTurn { try sim.run { world in try await DemoFirmware(board: world.board).run() } }
}

@Suite struct SimulationTests {
    @Test func sameSeedSameDigestAnotherSeedAnother() throws {
        let a = try simulate(seed: 1, duration: "3h")
        let b = try simulate(seed: 1, duration: "3h")
        let c = try simulate(seed: 2, duration: "3h")
        #expect(a.failure == nil && b.failure == nil && c.failure == nil)
        #expect(a.digest == b.digest)
        #expect(a.events == b.events)
        #expect(a.digest != c.digest)
        #expect(a.virtualNanoseconds == 3 * 3_600_000_000_000)
        // The world happened: the GPS talked, the button was pressed, the 2 h outage came.
        #expect(a.uarts.first { $0.role == "gps_uart" }!.delivered > 3 * 3600 * 500)
        #expect(a.network.outages >= 1)
        #expect(a.tasks.first { $0.name == "button" }!.switches > 1)
    }

    /// Any board file can be simulated; the firmware uses the roles there are.
    @Test(arguments: ["host-serial", "raspberrypi-4b", "raspberrypi-5"])
    func boardsWithSomeRolesAndNoWorldRun(_ name: String) throws {
        let r = try simulate("\(repositoryRoot)/boards/\(name).json", seed: 3, duration: "1h")
        #expect(r.failure == nil)
        #expect(r.virtualNanoseconds == 3_600_000_000_000)
        #expect(r.uarts.map(\.role) == ["gps_uart"])
        #expect(r.uarts.first?.delivered == 0)   // no "sim" section: a silent GPS
        #expect(r.tasks.contains { $0.name == "gps" })
        #expect(r.tasks.contains { $0.name == "heartbeat" } == (name != "host-serial"))
    }

    @Test func aScenarioThatExpectsTheWrongPinFailsSayingWhichStepWhatAndWhat() throws {
        let r = try simulate("quiet", seed: 1, duration: "1m", scenario: """
            {"name": "relay follows the button",
             "steps": [
               {"at": "10s"},
               {"press": "button", "hold": "200ms"},
               {"expect_pin": "relay", "value": false, "within": "50ms"}
             ]}
            """)
        #expect(r.scenarioPassed == false)
        let f = try #require(r.failure)
        #expect(f.contains("test-scenario.json:5: scenario 'relay follows the button' failed at step 3 (expect_pin relay = false)"), "\(f)")
        #expect(f.contains("expected relay = false within 0.050 s, saw relay = true"), "\(f)")
    }

    @Test func aScenarioThatHoldsPasses() throws {
        let r = try simulate("quiet", seed: 1, duration: "2m", scenario: """
            {"name": "relay follows the button",
             "steps": [
               {"at": "10s"},
               {"press": "button", "hold": "200ms", "bounce": "8ms"},
               {"expect_pin": "relay", "value": true, "within": "50ms"},
               {"wait_serial": "console", "text": "relay on", "timeout": "1s"},
               {"wait_serial": "gps_uart", "direction": "rx", "text": "$GNGGA", "timeout": "2s"},
               {"wait": "100ms"},
               {"set": "button", "value": true},
               {"wait": "100ms"},
               {"expect_pin": "relay", "value": false},
               {"network": "down", "for": "30s"},
               {"publish": "firmloop/sim/cmd", "payload": {"id": "c1"}},
               {"expect_publish": "firmloop/+/cmd", "contains": "\\"c1\\"", "within": "1s"}
             ]}
            """)
        #expect(r.failure == nil)
        #expect(r.scenarioPassed == true)
        #expect(r.virtualNanoseconds < 20_000_000_000)
    }

    @Test func aScenarioThatRunsOutOfTimeNamesItsStep() throws {
        let r = try simulate(seed: 1, duration: "5s", scenario: #"{"steps": [{"wait": "1s"}, {"wait_serial": "console", "text": "never", "timeout": "1h"}]}"#)
        #expect(r.failure?.contains("step 2 (wait_serial console tx \"never\")") == true, "\(r.failure ?? "")")
        #expect(r.failure?.contains("expected the scenario to finish within 5.000 s") == true)
    }

    @Test func brokenScenarioFilesReportEveryProblem() throws {
        let d = try BoardDescription.load(path: "\(repositoryRoot)/boards/sim.json")
        do {
            _ = try Scenario.parse("""
                {"steps": [
                  {"press": "pump"},
                  {"expect_pin": "relay"},
                  {"wait": "soon"},
                  {"wait": "1s", "press": "button"},
                  {"network": "sideways"},
                  {"wait_serial": "relay", "text": "x"},
                  {"publish": "a/+"},
                  {"dance": true}
                ]}
                """, file: "s.json", board: d)
            Issue.record("accepted")
        } catch let e as FileProblems {
            let m = e.description
            for want in ["s.json:2: steps[0].press: no role 'pump'", "s.json:3: steps[1].value: missing (required)",
                         "s.json:4: steps[2].wait: expected a duration", "s.json:5: steps[3]: one action per step, found wait and press",
                         "s.json:6: steps[4].network: expected \"down\" or \"up\"", "s.json:7: steps[5].wait_serial: role 'relay' is output, this step needs serial",
                         "s.json:8: steps[6].publish: 'a/+' is not a valid topic name", "s.json:9: steps[7]: a step needs one of"] {
                #expect(m.contains(want), "missing \(want) in\n\(m)")
            }
            #expect(e.problems.count == 8, "\(m)")
        }
    }

    @Test func theTraceIsChromeTraceJSON() throws {
        let path = "/tmp/firmloop-trace-test-\(getpid()).json"
        defer { unlink(path) }
        let r = try simulate(seed: 1, duration: "20s", trace: path)
        #expect(r.failure == nil)
        let j = try JSON.parse(readFile(path)!)
        let events = try #require(j["traceEvents"]?.array)
        func count(_ ph: String, _ pred: (JSON) -> Bool = { _ in true }) -> Int {
            events.filter { $0["ph"]?.string == ph && pred($0) }.count
        }
        #expect(count("X") > 100)                                                      // task runs
        #expect(count("M") { $0["args"]?["name"]?.string == "task gps" } == 1)
        #expect(count("C") { $0["name"]?.string == "gpio status_led" } >= 38)           // heartbeat edges
        #expect(count("i") { $0["name"]?.string == "uart.rx" } > 100)
        #expect(count("i") { $0["name"]?.string == "scenario.step" } == 0)
    }
}

import Glibc
