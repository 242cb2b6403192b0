import Board
import Kernel

/// How a board file's line is found among the machine's chips: by name (on the labelled chip,
/// or on any chip if the file gives no label, and then only if exactly one chip has it), or by
/// chip label + offset. Never by chip number. Pure, so the rules are tested without a chip.
public enum LineLookup {
    public static func resolve(_ spec: LineSpec, role: String, chips: [GPIOChipInfo]) -> Result<(chip: Int, offset: Int), BoardError> {
        if chips.isEmpty { return .failure(.noGPIOChips(line: spec.label, role: role)) }
        var candidates = Array(chips.indices)
        if let label = spec.chip {
            candidates = candidates.filter { chips[$0].label == label }
            if candidates.isEmpty { return .failure(.chipNotFound(label: label, role: role)) }
        }
        if let name = spec.name {
            let hits = candidates.compactMap { c in chips[c].lines.first { $0.name == name }.map { (c, $0.offset) } }
            if hits.isEmpty { return .failure(.lineNotFound(name: name, chip: spec.chip, role: role)) }
            if hits.count > 1 && spec.chip == nil {
                return .failure(.ambiguousLine(name: name, chips: hits.map { "\(chips[$0.0].label) (\(chips[$0.0].name))" }, role: role))
            }
            return .success((hits[0].0, hits[0].1))
        }
        let c = candidates[0], o = spec.offset ?? -1
        guard o >= 0 && o < chips[c].lines.count else {
            return .failure(.offsetOutOfRange(chip: chips[c].label, offset: o, lines: chips[c].lines.count, role: role))
        }
        return .success((c, o))
    }
}

/// A GPIO output on a requested line (libgpiod applies active-low: values are logical).
@KernelActor
public final class LinuxOutput: OutputLine {
    public let role: String
    let request: GPIORequest
    init(role: String, request: GPIORequest) {
        self.role = role
        self.request = request
    }
    public func set(_ value: Bool) throws { try request.set(value) }
    public func get() throws -> Bool { try request.get() }
}

/// An input's raw edges: the request's event fd in the kernel's epoll set, all pending events
/// read per wake. `DebouncedInput` on top does the debouncing.
@KernelActor
public final class LinuxEdges: RawInput {
    public let role: String
    let request: GPIORequest
    private var pending: [EdgeEvent] = []
    private var head = 0

    init(role: String, request: GPIORequest) {
        self.role = role
        self.request = request
    }

    public func level() throws -> Bool { try request.get() }

    public func nextEdge(until deadline: Int64) async throws -> EdgeEvent? {
        while true {
            if head < pending.count {
                head += 1
                return pending[head - 1]
            }
            pending.removeAll(keepingCapacity: true)
            head = 0
            let events = try request.readEvents()
            if !events.isEmpty {
                pending = events.map(Self.decode)
                continue
            }
            let now = Kernel.now
            if now >= deadline { return nil }
            if deadline == .max {
                try await readable(request.eventFD)
            } else {
                do {
                    try await withTimeout(ms: Int((deadline - now + 999_999) / 1_000_000)) { try await readable(request.eventFD) }
                } catch is TimeoutError {
                    return nil
                }
            }
        }
    }

    /// A kernel event as an edge: its type is the logical level after it (the kernel reads the
    /// line with active-low applied), its time CLOCK_MONOTONIC like the kernel's clock.
    nonisolated static func decode(_ e: GPIOEvent) -> EdgeEvent { EdgeEvent(rising: e.rising, time: e.time) }

    func close() {
        forgetDescriptor(request.eventFD)
        request.release()
    }
}
