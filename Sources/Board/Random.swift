import Glibc

/// Seeded chance: the simulation's one source of it, and the firmware's backoff jitter (seeded,
/// so a simulated run stays reproducible). Every fault, bounce and noise byte comes from a
/// `SeededRandom` derived from the run's seed and the name of what uses it, so the same board
/// file + seed + duration gives the same run byte for byte, and adding a new fault source does
/// not shift the draws of the others. SplitMix64: fast, tiny state, good enough for faults.
public struct SeededRandom: Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// The stream for `name` (e.g. "uart.gps_uart.noise") under `seed`.
    public init(seed: UInt64, stream name: String) {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        state = seed ^ h
        _ = next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    public mutating func chance(_ p: Double) -> Bool { p > 0 && unit() < p }

    /// Uniform in `range`.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }

    /// Exponentially distributed with the given mean (gaps of a Poisson process).
    public mutating func exponential(mean: Double) -> Double { -mean * log(1 - unit()) }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double { sqrt(-2 * log(1 - unit())) * cos(2 * Double.pi * unit()) }
}
