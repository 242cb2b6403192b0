import Board
import Glibc
import Kernel

/// The simulated board: every role of a board file as a simulated device in a seeded world.
/// Runs on whatever clock the kernel has: virtual for `firmloop simulate` and tests (a day in
/// seconds), real for `make run`.
@KernelActor
public final class SimHardware: Hardware {
    public let description: BoardDescription
    public let world: WorldConfig
    public let seed: UInt64
    public let log: EventLog
    /// Kernel time the world started (schedules in the world are relative to it).
    public let origin: Int64
    public private(set) var lines: [String: SimLine] = [:]
    public private(set) var uarts: [String: SimUART] = [:]
    public private(set) var i2c: [String: SimI2CDevice] = [:]
    public private(set) var pwm: [String: SimPWM] = [:]
    public let simNetwork: SimNetwork
    private let wall: SimWallClock
    /// The network the firmware gets: the simulated one, unless another (real sockets) is given.
    public let network: any Network
    private var roles: RoleDevices

    public var clock: any WallClock { wall }

    /// `world` replaces what the board file's "sim" section says (for `--nmea-replay`).
    public init(_ description: BoardDescription, seed: UInt64, log: EventLog = EventLog(), network: (any Network)? = nil,
                world: WorldConfig? = nil) throws {
        self.description = description
        let world = try world ?? WorldConfig.parse(description)
        self.world = world
        self.seed = seed
        self.log = log
        origin = Kernel.now
        wall = SimWallClock(start: world.startUnixNanoseconds, origin: origin)
        simNetwork = SimNetwork(faults: world.network, seed: seed, log: log)
        self.network = network ?? simNetwork
        roles = RoleDevices(description)
        for r in description.roles {
            switch r.kind {
            case .output, .input:
                lines[r.name] = SimLine(role: r.name, spec: r.line!, isOutput: r.kind == .output, log: log)
                roles.add(r.name, lines[r.name]!)
            case .serial:
                uarts[r.name] = SimUART(role: r.name, path: r.device ?? "sim:\(r.name)", settings: r.settings ?? SerialSettings(),
                                        config: world.uarts[r.name] ?? UARTSourceConfig(), seed: seed, log: log, origin: origin)
                roles.add(r.name, uarts[r.name]!)
            case .value:
                roles.add(r.name, SimValue(role: r.name, config: world.values[r.name] ?? SimValue.Config(), seed: seed, origin: origin))
            case .i2c:
                let spec = r.i2c!, w = world.i2c[r.name] ?? WorldConfig.I2CWorld()
                let rng = SeededRandom(seed: seed, stream: "i2c." + r.name)
                let chip: any SimI2CChip = switch spec.driver {
                case "bme280": SimBME280(weather: w.weather, rng: rng)
                case "ads1115": SimADS1115(inputs: w.inputs, rng: rng)
                default: SimRegisterFile()
                }
                i2c[r.name] = SimI2CDevice(role: r.name, spec: spec, chip: chip, silent: w.silent.map { ($0.at, $0.at + $0.length) },
                                           log: log, origin: origin)
                roles.add(r.name, i2c[r.name]!)
            case .pwm:
                pwm[r.name] = SimPWM(role: r.name, spec: r.pwm!, log: log)
                roles.add(r.name, pwm[r.name]!)
            }
        }
    }

    /// Whether every role of the board file is a simulated device (lines on chip "sim", serial
    /// devices "sim:…"): such a board runs only simulated.
    public nonisolated static func isSimulated(_ d: BoardDescription) -> Bool {
        d.roles.allSatisfy { r in
            switch r.kind {
            case .serial: (r.device ?? "").hasPrefix("sim:")
            case .value: (r.value?.path ?? "").hasPrefix("sim:")
            case .output, .input: r.line?.chip == "sim"
            case .i2c: (r.i2c?.bus ?? "").hasPrefix("sim:")
            case .pwm: r.pwm?.chip == "sim"
            }
        }
    }

    /// Checks a board file's "sim" section without building a board (throws `FileProblems`).
    public nonisolated static func validate(_ description: BoardDescription) throws {
        _ = try WorldConfig.parse(description)
    }

    /// Starts the board's own tasks: input scripts and network faults (the world around it
    /// adds its broker: SimWorld). They run until the kernel run ends (which cancels them).
    public func start() {
        let net = simNetwork, origin = self.origin
        _ = spawn("sim.network") { try await net.runFaults(origin: origin) }
        for (role, script) in world.inputs.sorted(by: { $0.key < $1.key }) {
            guard let line = lines[role] else { continue }
            let seed = self.seed
            _ = spawn("sim.input") {
                try await SimHardware.play(script, on: line, origin: origin, rng: SeededRandom(seed: seed, stream: "input." + role))
            }
        }
    }

    static func play(_ s: WorldConfig.InputScript, on line: SimLine, origin: Int64, rng: SeededRandom) async throws {
        var rng = rng
        var scripted = s.presses[...]
        var nextRandom: Int64 = s.pressesPerHour > 0 ? origin + Int64(rng.exponential(mean: 3.6e12 / s.pressesPerHour)) : .max
        while true {
            let t: Int64, hold: Int64, bounce: Int64
            if let p = scripted.first, origin + p.at <= nextRandom {
                scripted = scripted.dropFirst()
                (t, hold, bounce) = (origin + p.at, p.hold, p.bounce)
            } else if nextRandom != .max {
                (t, hold, bounce) = (nextRandom, s.hold, s.bounce)
                nextRandom = t + hold + 2 * bounce + Int64(rng.exponential(mean: 3.6e12 / s.pressesPerHour))
            } else {
                return
            }
            try await sleep(until: max(t, Kernel.now))
            try await line.press(hold: hold, bounce: bounce, rng: &rng)
        }
    }

    // MARK: Board

    /// A serial port is opened again (`SimUART.opened`) each time it is handed out.
    public func take(_ role: String, as kind: RoleKind) throws -> AnyObject {
        let d = try roles.take(role, as: kind)
        (d as? SimUART)?.opened()
        return d
    }

    public func isTaken(_ role: String) -> Bool { roles.isTaken(role) }

    /// A CPU warming and cooling over the day: 52 °C ± 6, a 24 h cycle plus a 10-minute ripple
    /// (deterministic, from the virtual clock).
    public func cpuTemperature() async -> Double? {
        let t = Double(Kernel.now - origin) / 1e9
        let c = 52 + 6 * sin(t * 2 * Double.pi / 86_400) + 0.8 * sin(t * 2 * Double.pi / 600)
        return (c * 10).rounded() / 10
    }

    /// The world's own tasks are named "sim.…".
    public func ownsTask(named name: String) -> Bool { name.hasPrefix("sim.") }

    public func close() {
        roles.releaseAll()
        for u in uarts.values { u.close() }
    }

    /// Scenario and test access to a line by role.
    public func line(_ role: String) throws -> SimLine {
        guard let l = lines[role] else { throw BoardError.roleNotDeclared(role: role, file: description.file) }
        return l
    }

    public func i2cDevice(_ role: String) throws -> SimI2CDevice {
        guard let d = i2c[role] else { throw BoardError.roleNotDeclared(role: role, file: description.file) }
        return d
    }

    public func pwmOutput(_ role: String) throws -> SimPWM {
        guard let d = pwm[role] else { throw BoardError.roleNotDeclared(role: role, file: description.file) }
        return d
    }

    public func uart(_ role: String) throws -> SimUART {
        guard let u = uarts[role] else { throw BoardError.roleNotDeclared(role: role, file: description.file) }
        return u
    }
}

@KernelActor
final class SimWallClock: WallClock {
    let start: Int64
    let origin: Int64
    init(start: Int64, origin: Int64) {
        self.start = start
        self.origin = origin
    }
    func unixNanoseconds() -> Int64 { start + (Kernel.now - origin) }
}
