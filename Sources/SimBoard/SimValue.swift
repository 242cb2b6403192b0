import Board
import Glibc
import Kernel

/// A value role in simulation: `base + swing·sin(2π·t/period)` plus seeded noise, on the
/// kernel clock (a DS18B20 in a room that warms by day). From the board file's
/// `"sim": {"values": {"probe": {"base": 21.5, "swing": 3, "period": "24h", "noise": 0.05}}}`.
@KernelActor
public final class SimValue: ValueInput {
    public typealias Config = SimCurve

    public let role: String
    public let config: Config
    private let origin: Int64
    private var rng: SeededRandom

    init(role: String, config: Config, seed: UInt64, origin: Int64) {
        self.role = role
        self.config = config
        self.origin = origin
        rng = SeededRandom(seed: seed, stream: "value." + role)
    }

    public func read() async throws -> Double {
        let v = config.value(at: Kernel.now - origin, rng: &rng)
        return (v * 1000).rounded() / 1000   // a DS18B20 reads in steps of 1/16 °C; a millidegree file
    }
}

/// A quantity in a simulated world: `base + swing·sin(2π·t/period)` plus seeded Gaussian
/// noise (a room that warms by day, the weather's pressure over days, an ADC's input).
public struct SimCurve: Sendable, Equatable {
    public var base = 20.0
    public var swing = 0.0
    public var period: Int64 = 86_400_000_000_000
    /// Gaussian, this standard deviation.
    public var noise = 0.0
    public init(base: Double = 20, swing: Double = 0, period: Int64 = 86_400_000_000_000, noise: Double = 0) {
        self.base = base
        self.swing = swing
        self.period = period
        self.noise = noise
    }

    /// Its value `t` ns after the world started.
    public func value(at t: Int64, rng: inout SeededRandom) -> Double {
        var v = base + swing * sin(Double(t) / Double(period) * 2 * Double.pi)
        if noise > 0 { v += noise * rng.normal() }
        return v
    }
}
