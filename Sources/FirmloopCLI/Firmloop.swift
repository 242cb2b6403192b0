import CBuildInfo
import Firmware
import Glibc
import Kernel
import LinuxBoard

/// The `firmloop` command line — `run`, `simulate`, `probe`, `uart`, `config`, `keygen`, `sign`,
/// `update`, `demo` — for a
/// firmware: the `firmloop` binary is `FirmloopCommand.main()` with the stock firmware, and
/// your executable gets the same commands for yours with one call:
///
///     import Firmware
///     import FirmloopCLI
///
///     FirmloopCommand.main(firmware: .stock.adding { TemperatureProbe() })
public struct FirmloopCommand: Command {
    static let name = "firmloop"
    static let abstract = "Firmware runtime for Linux boards: a cooperative kernel, boards, firmware tasks."
    static let subcommands: [any Command.Type] = [Run.self, Simulate.self, Probe.self, UART.self, Config.self, Keygen.self,
                                                  Sign.self, UpdateDevice.self, Demo.self]

    public init() {}
    init(_ arguments: ParsedArguments) {}
    func run() throws {}

    /// The firmware `run` and `simulate` run (set once by `main(firmware:)`, before parsing).
    static let firmware = ThreadMutex(Composition.stock)

    /// Parses the process's arguments and runs the command with `firmware`; exits.
    public static func main(firmware: Composition) -> Never {
        self.firmware.withLock { $0 = firmware }
        main()
    }

    /// Parses the process's arguments and runs the command (with the stock firmware unless
    /// `main(firmware:)` set another); exits.
    public static func main() -> Never {
        Kernel.makeKernelDefaultExecutor()   // before any task exists
        runCommandLine(FirmloopCommand.self, version: version, Array(CommandLine.arguments.dropFirst()))
    }
}

/// The CPU this binary is for, as `uname -m` says it.
#if arch(x86_64)
let architecture = "x86_64"
#elseif arch(arm64)
let architecture = "aarch64"
#else
let architecture = "an unnamed architecture"
#endif

/// `firmloop --version`: what was built (git describe at build time), with what, for what.
let version = """
    firmloop \(String(cString: firmloop_build_version())) for \(architecture) Linux
    GPIO through \(GPIOChip.backend)
    kernel tasks on the \(Kernel.kernelExecutorMode)
    \(String(cString: firmloop_build_swift()).isEmpty ? "Swift version unknown" : String(cString: firmloop_build_swift()))
    """

/// `firmloop demo`: the kernel alone at work (no board, no firmware): named tasks, a channel,
/// their stats.
struct Demo: Command {
    static let name = "demo"
    static let abstract = "A few named tasks blink a simulated LED, sample a sensor and report, then print their stats."
    static let parameters: [Parameter] = [
        .option("seconds", help: "Stop after this many seconds (0: run until Ctrl-C).", default: "0"),
        .option("budget", help: "Report a task that runs longer than this between awaits (ms).", default: "50"),
    ]
    var seconds = 0
    var budget = 50

    init(_ a: ParsedArguments) throws(UsageError) {
        seconds = try a.int("seconds") ?? seconds
        budget = try a.int("budget") ?? budget
    }

    func run() throws {
        let stop = StopSignal.install()
        let opts = KernelOptions(budgetMilliseconds: budget, onFinish: { stats in printStats(stats) })
        let seconds = self.seconds
        do { try Kernel.run(opts) {
            say("firmloop demo: LED heartbeat, sensor, logger on one thread. " + (seconds > 0 ? "\(seconds) s." : "Ctrl-C stops."))
            try await withGroup("demo") { g in
                let readings = Channel<String>(capacity: 8, name: "readings")
                g.spawn("led") {
                    var on = false
                    let tick = every(ms: 500)
                    while true {
                        _ = try await tick.tick()
                        on.toggle()
                        try await readings.send("led \(on ? "●" : "○")")
                    }
                }
                g.spawn("sensor") {
                    let tick = every(ms: 1000)
                    var x = 0.0
                    while true {
                        let n = try await tick.tick()
                        x = 21 + 0.5 * sin(Double(n) / 3)
                        try await readings.send("sensor \(Double(Int(x * 10)) / 10) °C")
                    }
                }
                g.spawn("logger") {
                    let t0 = Kernel.now
                    while let line = try await readings.receive() {
                        let ms = (Kernel.now - t0) / 1_000_000
                        say("t=\(ms / 1000).\(ms % 1000 / 100)s  \(line)")
                    }
                }
                g.spawn("crunch") {
                    // Heavy work inline freezes every task: the kernel names the culprit...
                    try await sleep(ms: 2200)
                    _ = crunch(80)
                    // ...offload runs it on a worker thread while the others keep time.
                    while true {
                        try await sleep(ms: 3000)
                        let r = try await offload { crunch(80) }
                        try await readings.send("crunch done off the kernel (\(r))")
                    }
                }
                g.spawn("stop") { try await stopOn(stop, after: seconds) }
            }
        } } catch is Stop {}
    }
}

struct Stop: Error {}

/// Waits for SIGINT/SIGTERM (or `seconds`, if > 0), then throws `Stop`: in a task group, that
/// ends the group and cancels every other task, which is how the commands stop cleanly.
@KernelActor
func stopOn(_ stop: Signal, after seconds: Int) async throws {
    if seconds > 0 {
        do { try await withTimeout(ms: seconds * 1000) { try await stop.wait() } } catch is TimeoutError {}
    } else {
        try await stop.wait()
    }
    throw Stop()
}

/// About `ms` milliseconds of arithmetic.
func crunch(_ ms: Int64) -> UInt64 {
    let end = Kernel.monotonicNanoseconds() + ms * 1_000_000
    var x: UInt64 = 1
    while true {
        for _ in 0..<10_000 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
        if Kernel.monotonicNanoseconds() >= end { return x % 1000 }
    }
}

func printStats(_ stats: [TaskStats], to out: (String) -> Void = { say($0) }) {
    out("\n\("task".padding(10)) \("switches".padding(9, left: true)) \("run ms".padding(8, left: true)) \("longest ms".padding(11, left: true)) over-budget")
    for s in stats {
        out("\(s.name.padding(10)) \(String(s.switches).padding(9, left: true)) \(ms(s.runNanoseconds).padding(8, left: true)) \(ms(s.longestNanoseconds).padding(11, left: true)) \(s.overBudget)")
    }
}

func ms(_ ns: Int64) -> String {
    let t = ns / 10_000
    return "\(t / 100).\(t % 100 < 10 ? "0" : "")\(t % 100)"
}

extension String {
    func padding(_ n: Int, left: Bool = false) -> String {
        let pad = String(repeating: " ", count: max(0, n - count))
        return left ? pad + self : self + pad
    }
}

/// SIGINT/SIGTERM → a kernel `Signal`: the signals are blocked in every thread and one thread
/// takes them with sigwait, so the handler is ordinary code that just raises the signal.
enum StopSignal {
    static func install() -> Signal {
        let s = Signal()
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        // safety: one retain, taken back by the signal thread, which holds the Signal (a
        // Sendable, any-thread type) for the life of the process.
        let box = Unmanaged.passRetained(s).toOpaque()
        var tid = pthread_t()
        pthread_create(&tid, nil, { arg in
            let sig = Unmanaged<Signal>.fromOpaque(arg!).takeRetainedValue()
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGINT)
            sigaddset(&set, SIGTERM)
            var n: Int32 = 0
            while true {
                sigwait(&set, &n)
                sig.raise()
            }
        }, box)
        return s
    }
}

/// One line to stdout, unbuffered, so it interleaves with the log on stderr in order.
func say(_ line: String, newline: Bool = true) { writeAll(1, newline ? line + "\n" : line) }
