import ArgumentParser
import Board
import Firmware
import Kernel
import SimBoard

/// `firmloop run`: the firmware in real time. Today on the simulated board (`boards/sim.json`,
/// what `make run` uses); real GPIO and serial come with the Linux board backend.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the firmware in real time on a board (the simulated board: boards/sim.json).")

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
        let real = desc.roles.filter { r in (r.kind == .serial && !(r.device ?? "").hasPrefix("sim:")) || (r.kind != .serial && r.line?.chip != "sim") }
        if !real.isEmpty {
            writeErr("""
                firmloop run: \(board) describes real hardware (roles \(real.map(\.name).joined(separator: ", "))), and this \
                build has no Linux board backend (libgpiod, termios) yet.
                Try the firmware on this board's roles in simulation: firmloop simulate --board \(board)

                """)
            throw ExitCode(2)
        }
        let stop = StopSignal.install()
        let seconds = duration, seed = self.seed
        say("firmloop run: \(desc.board) (\(desc.file)) in real time, seed \(seed). " + (seconds > 0 ? "\(seconds) s." : "Ctrl-C stops."))
        do { try Kernel.run(KernelOptions(onFinish: { printStats($0) })) {
            let b = try SimBoard(desc, seed: seed)
            b.start()
            defer { b.close() }
            let fw = DemoFirmware(board: b)
            try await withGroup("run") { g in
                g.spawn("firmware") { try await fw.run() }
                g.spawn("status") {
                    let t = every(ms: 1000)
                    while true {
                        let n = try await t.tick()
                        let outs = b.lines.sorted { $0.key < $1.key }.filter { $0.value.isOutput }
                            .map { "\($0.key)=\($0.value.value ? 1 : 0)" }.joined(separator: " ")
                        say("t=\(n)s  \(outs)  presses=\(fw.presses)  gps: \(fw.gpsBytes) B, \(fw.gpsLines) lines  events=\(b.log.count)")
                    }
                }
                g.spawn("stop") {
                    if seconds > 0 {
                        do { try await withTimeout(ms: seconds * 1000) { try await stop.wait() } } catch is TimeoutError {}
                    } else {
                        try await stop.wait()
                    }
                    throw Stop()
                }
            }
        } } catch is Stop {}
    }
}
