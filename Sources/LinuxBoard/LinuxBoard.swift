import Board
import Glibc
import Kernel

/// A board on real hardware: GPIO lines through libgpiod, serial ports through termios, I2C
/// through i2c-dev, PWM through sysfs, TCP through sockets. Everything the board file declares is found and requested when the board
/// is made, so a missing chip, line or device fails at once, naming it; on any failure, and on
/// `close()`, every line and port taken so far is released (no "busy" on the next start).
@KernelActor
public final class LinuxHardware: Hardware {
    public let description: BoardDescription
    public let network: any Network = LinuxNetwork()
    public let clock: any WallClock = RealtimeClock()
    private var roles: RoleDevices
    /// The thermal zone's temp file: the CPU's zone where one says so, else the first.
    private let thermal: String?
    /// The last reading of it and when (kernel clock).
    private var lastTemperature: (celsius: Double?, at: Int64)?
    /// How long a reading of the CPU temperature is used again (ns): each read is a hand-off
    /// to a worker thread and back (two thread wake-ups), and a snapshot every 100 ms would
    /// make ten a second of a value that moves over seconds.
    public nonisolated static let cpuTemperatureMaxAge: Int64 = 1_000_000_000

    /// `thermalRoot`: where the thermal zones are (sysfs; a test's folder).
    public init(_ description: BoardDescription, consumer: String = "firmloop", thermalRoot: String = "/sys/class/thermal") throws {
        self.description = description
        thermal = LinuxHardware.cpuThermalZone(root: thermalRoot)
        roles = RoleDevices(description)
        let gpioRoles = description.roles.filter(\.kind.isLine)
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
                    roles.add(r.name, r.kind == .output ? LinuxOutput(role: r.name, request: req) : LinuxEdges(role: r.name, request: req))
                }
            }
            for r in description.roles(of: .serial) {
                roles.add(r.name, try LinuxSerialPort(path: r.device!, settings: r.settings ?? SerialSettings(), role: r.name))
            }
            for r in description.roles(of: .value) {
                roles.add(r.name, try LinuxValue(role: r.name, spec: r.value!))
            }
            for r in description.roles(of: .i2c) {
                roles.add(r.name, try LinuxI2C(role: r.name, spec: r.i2c!))
            }
            for r in description.roles(of: .pwm) {
                roles.add(r.name, try LinuxPWM(role: r.name, spec: r.pwm!))
            }
        } catch {
            close()
            throw error
        }
    }

    public func take(_ role: String, as kind: RoleKind) throws -> AnyObject { try roles.take(role, as: kind) }

    public func isTaken(_ role: String) -> Bool { roles.isTaken(role) }

    public func cpuTemperature() async -> Double? {
        guard let path = thermal else { return nil }
        if let t = lastTemperature, Kernel.now - t.at < Self.cpuTemperatureMaxAge { return t.celsius }
        // Read off the kernel thread: a zone behind I2C can take milliseconds.
        let text = try? await offload { readTextFile(path, limit: 64) }
        let celsius = text?.split(separator: "\n").first.flatMap { Int($0) }.map { Double($0) / 1000 }
        lastTemperature = (celsius, Kernel.now)
        return celsius
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
        for d in roles.all {
            switch d {
            case let p as LinuxSerialPort: p.close()
            case let e as LinuxEdges: e.close()
            case let o as LinuxOutput: o.request.release()
            case let p as LinuxPWM: p.release()
            default: break
            }
        }
        roles = RoleDevices(description)
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
