import Board
import Glibc
import Kernel

/// A board on real hardware: GPIO lines through libgpiod, serial ports through termios, TCP
/// through sockets. Everything the board file declares is found and requested when the board
/// is made, so a missing chip, line or device fails at once, naming it; on any failure, and on
/// `close()`, every line and port taken so far is released (no "busy" on the next start).
@KernelActor
public final class LinuxBoard: Board {
    public let description: BoardDescription
    public let network: any Network = LinuxNetwork()
    public let clock: any WallClock = RealtimeClock()
    private var outputs: [String: LinuxOutput] = [:]
    private var edges: [String: LinuxEdges] = [:]
    private var ports: [String: LinuxSerialPort] = [:]
    private var claims = RoleClaims()
    /// The thermal zone's temp file: the CPU's zone where one says so, else the first.
    private let thermal = LinuxBoard.cpuThermalZone()

    public init(_ description: BoardDescription, consumer: String = "firmloop") throws {
        self.description = description
        let gpioRoles = description.roles.filter { $0.kind != .serial }
        do {
            if !gpioRoles.isEmpty {
                let chips = GPIOChip.all()
                let infos = chips.map { $0.info() }
                // Every name first: a typo in the board file is reported as that, not as a
                // "busy" on an earlier role's line.
                let found = try gpioRoles.map { r in try LineLookup.resolve(r.line!, role: r.name, chips: infos).get() }
                for (r, (c, o)) in zip(gpioRoles, found) {
                    let spec = r.line!
                    let what = "\(spec.label) (\(chips[c].name) line \(o))"
                    let req = try chips[c].request(offset: o, output: r.kind == .output, initial: spec.initial, activeLow: spec.activeLow,
                                                   bias: spec.bias, consumer: consumer, what: what, role: r.name)
                    if r.kind == .output { outputs[r.name] = LinuxOutput(role: r.name, request: req) } else { edges[r.name] = LinuxEdges(role: r.name, request: req) }
                }
            }
            for r in description.roles(of: .serial) {
                ports[r.name] = try LinuxSerialPort(path: r.device!, settings: r.settings ?? SerialSettings(), role: r.name)
            }
        } catch {
            close()
            throw error
        }
    }

    public func output(_ role: String) throws -> any OutputLine {
        try claims.take(try declaration(role, as: .output))
        return outputs[role]!
    }

    public func input(_ role: String) throws -> any InputLine {
        let r = try declaration(role, as: .input)
        try claims.take(r)
        return try DebouncedInput(edges[role]!, debounceMilliseconds: r.line?.debounceMilliseconds ?? 0)
    }

    public func serial(_ role: String) throws -> any SerialPort {
        try claims.take(try declaration(role, as: .serial))
        return ports[role]!
    }

    public func cpuTemperature() async -> Double? {
        guard let path = thermal else { return nil }
        // Read off the kernel thread: a zone behind I2C can take milliseconds.
        let text = try? await offload { readTextFile(path, limit: 64) }
        guard let t = text?.split(separator: "\n").first, let milli = Int(t) else { return nil }
        return Double(milli) / 1000
    }

    /// /sys/class/thermal/thermal_zone*/temp of the CPU (types as the Pi, x86 and most SoCs
    /// name it), else of the first zone; nil without any.
    nonisolated static func cpuThermalZone(root: String = "/sys/class/thermal") -> String? {
        let zones = directoryEntries(root).filter { $0.hasPrefix("thermal_zone") }
            .sorted { (Int($0.dropFirst(12)) ?? 0) < (Int($1.dropFirst(12)) ?? 0) }
        let cpu = zones.first { z in
            let type = readTextFile("\(root)/\(z)/type", limit: 64)?.split(separator: "\n").first.map(String.init) ?? ""
            return ["cpu-thermal", "cpu_thermal", "x86_pkg_temp", "soc_thermal", "cpu"].contains(type)
        }
        return (cpu ?? zones.first).map { "\(root)/\($0)/temp" }
    }

    public func close() {
        for p in ports.values { p.close() }
        for e in edges.values { e.close() }
        for o in outputs.values { o.request.release() }
        ports.removeAll()
        edges.removeAll()
        outputs.removeAll()
        claims.releaseAll()
    }
}

@KernelActor
public final class RealtimeClock: WallClock {
    public func unixNanoseconds() -> Int64 { Self.now() }

    /// CLOCK_REALTIME in nanoseconds since 1970, from any thread.
    public nonisolated static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
