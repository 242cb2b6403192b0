import Board
import Kernel

/// A simulated GPIO line. Values are logical (active-low applied), as the firmware sees them.
/// An output records every change in the event log; an input is driven by the world (scripts,
/// scenario steps) and queues its raw edges like the kernel's line-event FIFO (16 deep;
/// overflowing edges are dropped and counted, as the kernel does).
@KernelActor
public final class SimLine: OutputLine, RawInput {
    public let role: String
    public let spec: LineSpec
    public let isOutput: Bool
    public private(set) var value: Bool
    /// Raw edges dropped because the queue was full.
    public private(set) var overflows = 0
    let log: EventLog
    private var edges: [EdgeEvent] = []
    private var head = 0
    static let queueDepth = 16
    /// Woken on every change (edge waits, scenario `expect_pin ... within`).
    public let changed = Notify()

    init(role: String, spec: LineSpec, isOutput: Bool, log: EventLog) {
        self.role = role
        self.spec = spec
        self.isOutput = isOutput
        self.log = log
        if isOutput {
            value = spec.initial
        } else {
            // Nothing drives an idle input: its bias decides (pull-up reads high), then active-low.
            value = (spec.bias == .pullUp) != spec.activeLow
        }
        edges.reserveCapacity(Self.queueDepth)
    }

    // MARK: output side (the firmware)

    public func set(_ v: Bool) throws {
        guard isOutput else {
            throw BoardError.wrongRoleType(role: role, file: "", declared: "input", wanted: "output")
        }
        guard v != value else { return }
        value = v
        log.record(.gpioOut, role, value: v ? 1 : 0)
        changed.notifyAll()
    }

    public func get() throws -> Bool { value }

    // MARK: input side (the world drives, the firmware waits)

    /// Drives the input to `v` (logical), queueing an edge if it changes.
    public func drive(_ v: Bool) {
        guard v != value else { return }
        value = v
        log.record(.gpioIn, role, value: v ? 1 : 0)
        if edges.count - head >= Self.queueDepth {
            overflows += 1
        } else {
            if head > 0 && head == edges.count { edges.removeAll(keepingCapacity: true); head = 0 }
            edges.append(EdgeEvent(rising: v, time: Kernel.now))
        }
        changed.notifyAll()
    }

    public func level() throws -> Bool { value }

    public func nextEdge(until deadline: Int64) async throws -> EdgeEvent? {
        while true {
            if head < edges.count {
                head += 1
                return edges[head - 1]
            }
            if Kernel.now >= deadline { return nil }
            try await changed.wait(until: deadline)
        }
    }

    /// A press with contact bounce: `bounce` ns of chatter ending pressed, held `hold` ns, then
    /// chatter ending released. The chatter's flips come from `rng`.
    public func press(hold: Int64, bounce: Int64, rng: inout SeededRandom) async throws {
        try await chatter(to: true, bounce: bounce, rng: &rng)
        try await sleep(until: Kernel.now + hold)
        try await chatter(to: false, bounce: bounce, rng: &rng)
    }

    private func chatter(to level: Bool, bounce: Int64, rng: inout SeededRandom) async throws {
        if bounce > 0 {
            let flips = 2 * rng.int(in: 1...4)   // even: the chatter returns to where it began
            let start = Kernel.now
            var times = (0..<flips).map { _ in start + Int64(rng.unit() * Double(bounce)) }
            times.sort()
            drive(level)
            for t in times {
                try await sleep(until: t)
                drive(!value)
            }
            try await sleep(until: start + bounce)
        }
        drive(level)
    }
}
