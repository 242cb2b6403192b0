import ArgumentParser
import Board
import Firmware
import Kernel
import LinuxBoard
import SimBoard
import Synchronization

/// A value behind a Mutex, handed out of the kernel.
final class Locked<Value: Sendable>: Sendable {
    private let m: Mutex<Value>
    init(_ v: Value) { m = Mutex(v) }
    func get() -> Value { m.withLock { $0 } }
    func set(_ v: Value) { m.withLock { $0 = v } }
}

/// `firmloop run`: the firmware in real time, on the simulated board (`boards/sim.json`, what
/// `make run` uses) or on the machine's GPIO and serial ports (any other board file).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the firmware in real time: on this machine's GPIO and serial ports, or on the simulated board (boards/sim.json).")

    @Option(help: "Board file.")
    var board = "boards/sim.json"

    @Option(help: "Seed for the simulated world's faults and noise.")
    var seed: UInt64 = 1

    @Option(help: "Stop after this many seconds (0: run until Ctrl-C).")
    var duration: Int = 0

    func run() throws {
        let desc: BoardDescription
        do {
            desc = try BoardDescription.load(path: board)
            try SimBoard.validate(desc)
        } catch {
            writeErr("firmloop run: \(error)\n")
            throw ExitCode(2)
        }
        // A board whose devices are all simulated ("sim:" devices, chip "sim") runs on the
        // simulated board; any other on the machine's GPIO chips and serial ports.
        let simulated = desc.roles.allSatisfy { r in r.kind == .serial ? (r.device ?? "").hasPrefix("sim:") : r.line?.chip == "sim" }
        let stop = StopSignal.install()
        let seconds = duration, seed = self.seed
        say("firmloop run: \(desc.board) (\(desc.file)) " + (simulated ? "simulated in real time, seed \(seed). " : "on this machine. ")
            + (seconds > 0 ? "\(seconds) s." : "Ctrl-C stops."))
        let failed = Locked<String?>(nil)
        do { try Kernel.run(KernelOptions(onFinish: { if failed.get() == nil { printStats($0) } })) {
            let b: any Board
            do {
                if simulated {
                    let s = try SimBoard(desc, seed: seed)
                    s.start()
                    b = s
                } else {
                    b = try LinuxBoard(desc)
                }
            } catch {
                failed.set("\(error)")
                throw Stop()
            }
            defer { b.close() }
            let fw = DemoFirmware(board: b)
            try await withGroup("run") { g in
                g.spawn("firmware") { try await fw.run() }
                g.spawn("status") {
                    let t = every(ms: 1000)
                    while true {
                        let n = try await t.tick()
                        say("t=\(n)s  presses=\(fw.presses)  gps: \(fw.gpsBytes) B, \(fw.gpsLines) lines  samples=\(fw.samples)")
                    }
                }
                g.spawn("stop") { try await stopOn(stop, after: seconds) }
            }
        } } catch is Stop {}
        if let f = failed.get() {
            writeErr("firmloop run: \(desc.file): \(f)\n")
            throw ExitCode(1)
        }
    }
}
