import Board
import Firmware
import FirmwareSim
import Glibc
import Kernel
import SimBoard
import SimWorld

/// `firmloop simulate`: the firmware on the simulated board in virtual time.
struct Simulate: Command {
    static let name = "simulate"
    static let abstract = "Run the firmware on the simulated board in virtual time (a day in seconds), seeded and reproducible."
    static let discussion = """
            The firmware (device id "sim") publishes to the world's in-process broker through the \
            board's simulated network and its faults. The same board file + seed + duration gives \
            the same run byte for byte: compare the digest printed at the end. Exit 1 when an \
            invariant broke (a snapshot lost; the MQTT client holding more than its window) or, \
            with --scenario, at the first step whose expectation does not hold.
            """
    static let parameters: [Parameter] = [
        .option("board", help: "Board file (any board can be simulated; its \"sim\" section describes the world).", default: "boards/sim.json"),
        .option("seed", help: "Seed for every fault, bounce and noise byte.", default: "1"),
        .option("duration", help: "Virtual time to run: 90s, 10m, 24h, 7d.", default: "24h"),
        .option("scenario", help: "Scenario file: steps to drive and check (see boards/README.md)."),
        .option("trace", help: "Write the event log as Chrome trace JSON (open in ui.perfetto.dev)."),
    ] + SnapshotOptions.parameters
    var board = "boards/sim.json"
    var seed: UInt64 = 1
    var duration = "24h"
    var scenario: String?
    var trace: String?
    var snapshots: SnapshotOptions

    init(_ a: ParsedArguments) throws(UsageError) {
        board = a.string("board") ?? board
        seed = try a.uint64("seed") ?? seed
        duration = a.string("duration") ?? duration
        (scenario, trace) = (a.string("scenario"), a.string("trace"))
        snapshots = try SnapshotOptions(a)
    }

    func run() throws {
        let desc: BoardDescription
        let sc: Scenario?
        do {
            desc = try BoardDescription.load(path: board)
            sc = try scenario.map { try Scenario.load(path: $0, board: desc) }
        } catch {
            writeErr("firmloop simulate: \(error)\n")
            throw ExitCode(2)
        }
        guard let ns = DurationText.parse(duration), ns > 0 else {
            writeErr("firmloop simulate: --duration \(duration): expected a duration such as 90s, 10m, 24h\n")
            throw ExitCode(2)
        }
        if let p = snapshots.problem {
            writeErr("firmloop simulate: \(p)\n")
            throw ExitCode(2)
        }
        var sim = Simulation(board: desc, seed: seed, durationNanoseconds: ns, scenario: sc, tracePath: trace)
        let tty = isatty(2) != 0
        if tty {
            sim.progress = { (f: Double) in
                let w = 30, n = Int(min(1, f) * Double(w))
                writeErr("\r[\(String(repeating: "#", count: n))\(String(repeating: ".", count: w - n))] \(Int(f * 100))%")
            }
        }
        say("firmloop simulate: \(desc.board) (\(desc.file)), seed \(seed), \(sc.map { "scenario '\($0.name)', up to " } ?? "")\(DurationText.format(ns)) virtual")
        var run = try FirmwareSimulation(simulation: sim)
        run.composition = FirmloopCommand.firmware.withLock { $0 }
        run.firmware.snapshotIntervalMilliseconds = snapshots.snapshotInterval ?? RunSettings().snapshotIntervalMilliseconds
        run.outboxCapacity = snapshots.outboxCapacity ?? RunSettings().outboxCapacity
        let (r, s) = try run.run()
        if tty { writeErr("\r\u{1B}[K") }
        report(r)
        report(s)
        var failed = false
        if let f = r.failure {
            writeErr("firmloop simulate: FAILED: \(f)\n")
            failed = true
        }
        for v in s.violations {
            writeErr("firmloop simulate: INVARIANT BROKEN: \(v)\n")
            failed = true
        }
        if failed { throw ExitCode(1) }
        say("invariants held: no snapshot lost; the MQTT client held at most \(s.peakClientBacklog) messages (bound \(s.clientBacklogBound))")
    }

    func report(_ s: FirmwareSimulation.Summary) {
        say("snapshots: \(s.taken) taken (\(s.extra) extra), \(s.delivered) delivered, \(s.duplicates) duplicated, \(s.dropped) dropped from the outbox (\(s.undelivered) of them never delivered), \(s.pending) still in the outbox, \(s.lost) lost")
        let m = s.mqtt
        say("mqtt: \(m.connects) connects (\(max(0, m.connects - 1)) reconnects), \(m.connectFailures) failed, \(m.resent) re-sent, \(m.pings) pings, \(m.protocolErrors) protocol errors")
        say("commands: \(s.commands) (\(s.commandErrors) rejected)")
        let u = s.uart
        for x in s.sensors { say("sensor \(x.role): \(x.readings) readings, \(x.failures) failed attempts") }
        say("gps uart: \(u.bytes) bytes, \(u.lines) lines, \(u.bad) bad, \(u.overlong) overlong, \(u.noise) noise bytes; last fix: \(s.lastFix.map(fixJSON) ?? "none")")
        for (part, why) in s.faults.sorted(by: { $0.key < $1.key }) { say("fault at the end: \(part): \(why)") }
    }

    func report(_ r: Simulation.Report) {
        let speed = r.speedup >= 100 ? "\(Int(r.speedup))×" : "\(Double(Int(r.speedup * 10)) / 10)×"
        say("simulated \(DurationText.format(r.virtualNanoseconds)) in \(ms(r.realNanoseconds)) ms real (\(speed) real time)")
        if let p = r.scenarioPassed { say("scenario: \(p ? "passed" : "FAILED")") }
        for u in r.uarts { say("uart \(u.role): \(u.delivered) bytes delivered, \(u.overruns) lost to overruns") }
        say("outputs: " + r.outputs.map { "\($0.role)=\($0.value ? 1 : 0)" }.joined(separator: " ")
            + r.pwm.map { " \($0.role)=\($0.duty)" }.joined())
        let n = r.network
        say("network: \(n.connects) connects, \(n.refused) refused, \(n.timeouts) timed out, \(n.resets) resets, \(n.outages) outages")
        say("broker: \(r.broker.connects) client connects, \(r.broker.messages) messages, \(r.broker.protocolErrors) protocol errors")
        printStats(r.tasks)
        say("\nevents: \(r.events)  digest: \(r.digest)")
    }
}

func writeErr(_ s: String) { writeAll(2, s) }
