import Board
import Glibc
import Kernel
import SimBoard

/// One simulated run: a board file's world, a seed, a firmware, optionally a scenario and a
/// trace file, on the kernel's virtual clock. `firmloop simulate`, the tests and `make bench`
/// all run simulations through this.
public struct Simulation: Sendable {
    public var board: BoardDescription
    public var seed: UInt64
    /// Virtual time to run. With a scenario the run ends when the scenario does; reaching the
    /// duration first fails it.
    public var durationNanoseconds: Int64
    public var scenario: Scenario?
    public var tracePath: String?
    /// Called now and then (at most every 200 ms of real time) with the fraction done.
    public var progress: (@Sendable (Double) -> Void)?

    public init(board: BoardDescription, seed: UInt64, durationNanoseconds: Int64, scenario: Scenario? = nil, tracePath: String? = nil) {
        self.board = board
        self.seed = seed
        self.durationNanoseconds = durationNanoseconds
        self.scenario = scenario
        self.tracePath = tracePath
    }

    public struct Report: Sendable {
        public var digest = ""
        public var events = 0
        public var virtualNanoseconds: Int64 = 0
        public var realNanoseconds: Int64 = 0
        public var tasks: [TaskStats] = []
        public var uarts: [(role: String, delivered: Int, overruns: Int)] = []
        public var outputs: [(role: String, value: Bool)] = []
        /// Each PWM output's duty at the end.
        public var pwm: [(role: String, duty: Double)] = []
        public var network = (connects: 0, refused: 0, timeouts: 0, resets: 0, outages: 0)
        public var broker = (connects: 0, messages: 0, protocolErrors: 0, dropped: 0)
        public var scenarioPassed: Bool?
        /// Why the run failed (a scenario step, the firmware, a kernel deadlock), or nil.
        public var failure: String?

        public var speedup: Double { Double(virtualNanoseconds) / Double(max(realNanoseconds, 1)) }

        public init() {}
    }

    struct Finished: Error {}

    // safety: written by tasks on the kernel thread while the simulation runs, read by `run`
    // on the same thread after `Kernel.run` returned.
    final class Shared: @unchecked Sendable {
        var report = Report()
        var trace: ChromeTrace?
    }

    /// Runs the simulation on a new virtual-clock kernel (so not from inside one) and reports.
    /// `firmware` gets the world (its board, its broker) and runs until cancelled.
    public func run(firmware: @escaping @Sendable @KernelActor (SimWorld) async throws -> Void) throws -> Report {
        let shared = Shared()
        let sim = self
        var options = KernelOptions(clock: .virtual(start: 0), budgetMilliseconds: 1000)
        options.shutdownGraceMilliseconds = 2000
        options.onFinish = { stats in shared.report.tasks = stats }
        if tracePath != nil {
            options.onJob = { job in KernelActor.assumeIsolated { shared.trace?.job(job) } }
        }
        let realStart = Kernel.monotonicNanoseconds()
        do {
            try Kernel.run(options) {
                let log = EventLog()
                if let path = sim.tracePath { shared.trace = try ChromeTrace(path: path); log.trace = shared.trace }
                let world = try SimWorld(sim.board, seed: sim.seed, log: log)
                let board = world.board
                defer {
                    var r = shared.report
                    r.digest = log.digest
                    r.events = log.count
                    r.virtualNanoseconds = Kernel.now - board.origin
                    r.uarts = board.uarts.sorted { $0.key < $1.key }.map { ($0.key, $0.value.delivered, $0.value.overruns) }
                    r.outputs = board.lines.sorted { $0.key < $1.key }.filter { $0.value.isOutput }.map { ($0.key, $0.value.value) }
                    r.pwm = board.pwm.sorted { $0.key < $1.key }.map { ($0.key, $0.value.duty) }
                    r.network = board.simNetwork.stats
                    r.broker = (world.broker.connects, world.broker.received, world.broker.protocolErrors, world.broker.dropped)
                    shared.report = r
                    shared.trace?.finish()
                    board.close()
                }
                world.start()
                do {
                    try await withGroup("simulation") { g in
                        g.spawn("firmware") { try await firmware(world) }
                        if let sc = sim.scenario {
                            g.spawn("scenario") {
                                try await sc.run(in: world)
                                shared.report.scenarioPassed = true
                                throw Finished()
                            }
                        }
                        g.spawn("sim.clock") {
                            try await sleep(until: board.origin + sim.durationNanoseconds)
                            if let sc = sim.scenario {
                                let step = world.scenarioStep
                                throw ScenarioFailure(scenario: sc.name, file: sc.file, step: step, line: sc.steps.first { $0.number == step }?.line ?? 0,
                                                      summary: sc.steps.first { $0.number == step }?.summary ?? "",
                                                      expected: "the scenario to finish within \(DurationText.format(sim.durationNanoseconds))",
                                                      seen: "it still at this step", time: Kernel.now - board.origin)
                            }
                            throw Finished()
                        }
                        if let progress = sim.progress {
                            g.spawn("sim.progress") {
                                var shown = Kernel.monotonicNanoseconds()
                                let t = every(ms: 60_000)
                                while true {
                                    _ = try await t.tick()
                                    let now = Kernel.monotonicNanoseconds()
                                    if now - shown >= 200_000_000 {
                                        shown = now
                                        progress(Double(Kernel.now - board.origin) / Double(sim.durationNanoseconds))
                                    }
                                }
                            }
                        }
                    }
                } catch is Finished {
                } catch let f as ScenarioFailure {
                    shared.report.scenarioPassed = false
                    shared.report.failure = f.description
                }
            }
        } catch {
            shared.report.failure = "\(error)"
        }
        shared.report.realNanoseconds = Kernel.monotonicNanoseconds() - realStart
        return shared.report
    }
}
