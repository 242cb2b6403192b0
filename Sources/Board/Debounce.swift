import Kernel

/// A line's raw edges, as a backend delivers them (libgpiod events, the simulated line).
@KernelActor
public protocol RawInput: AnyObject {
    var role: String { get }
    /// The line's logical level now (active-low applied).
    func level() throws -> Bool
    /// Waits for the next raw edge, or until the kernel clock reads `deadline` (then nil).
    func nextEdge(until deadline: Int64) async throws -> EdgeEvent?
}

/// Software debounce on the kernel clock, one mechanism for every board (libgpiod v1 has
/// none): a change counts once the line has been stable for `debounce`; the level reported is
/// the line's level then, so a burst of bounces reports at most one edge, and a burst that
/// ends where it started reports none.
@KernelActor
public final class DebouncedInput: InputLine {
    public let raw: any RawInput
    public let debounceNanoseconds: Int64
    /// The last level reported (or read when the line was opened).
    public private(set) var reported: Bool

    public var role: String { raw.role }

    public init(_ raw: any RawInput, debounceMilliseconds: Int) throws {
        self.raw = raw
        debounceNanoseconds = Int64(debounceMilliseconds) * 1_000_000
        reported = try raw.level()
    }

    public func get() throws -> Bool { try raw.level() }

    public func edge(_ kind: EdgeKind) async throws -> EdgeEvent {
        while true {
            guard let first = try await raw.nextEdge(until: .max) else { continue }
            var level = first.rising
            if debounceNanoseconds > 0 {
                var last = first.time
                while let e = try await raw.nextEdge(until: last + debounceNanoseconds) { last = e.time }
                level = try raw.level()
            }
            guard level != reported else { continue }
            reported = level
            if kind.matches(level) { return EdgeEvent(rising: level, time: first.time) }
        }
    }
}
