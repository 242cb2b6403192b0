import Board
import Kernel

/// A Bosch BME280 in simulation: its register map (chip id 0x60, calibration words, control
/// and data registers), a forced-mode measurement made when `ctrl_meas` asks for one, and
/// readings that follow the world's weather (`sim.i2c.<role>`: "temperature", "humidity",
/// "pressure" curves, each `{"base", "swing", "period", "noise"}`).
///
/// The raw ADC values are found from the weather by bisection over the datasheet's
/// floating-point compensation (section 4.2.3), written here independently of the firmware's
/// integer driver, so a simulated run checks that driver against the datasheet.
@KernelActor
public final class SimBME280: SimI2CChip {
    public struct Weather: Sendable, Equatable {
        public var temperature = SimCurve(base: 21, swing: 4, noise: 0.02)
        /// %RH.
        public var humidity = SimCurve(base: 50, swing: 12, noise: 0.1)
        /// hPa, over three days.
        public var pressure = SimCurve(base: 1013.25, swing: 8, period: 3 * 86_400_000_000_000, noise: 0.02)
        public init() {}
    }

    /// Calibration as a real part holds it (T and P: the BMP280 datasheet's worked example;
    /// H: read from a BME280 on a bench).
    public struct Calibration: Sendable, Equatable {
        public var t1: UInt16 = 27504, t2: Int16 = 26435, t3: Int16 = -1000
        public var p1: UInt16 = 36477, p2: Int16 = -10685, p3: Int16 = 3024, p4: Int16 = 2855, p5: Int16 = 140
        public var p6: Int16 = -7, p7: Int16 = 15500, p8: Int16 = -14600, p9: Int16 = 6000
        public var h1: UInt8 = 75, h2: Int16 = 362, h3: UInt8 = 0, h4: Int16 = 313, h5: Int16 = 50, h6: Int8 = 30
        public init() {}
    }

    public let registers = SimRegisterFile()
    public let weather: Weather
    public let calibration: Calibration
    private var rng: SeededRandom
    /// Measurements made (forced mode).
    public private(set) var measurements = 0

    public init(weather: Weather = Weather(), calibration: Calibration = Calibration(), rng: SeededRandom) {
        self.weather = weather
        self.calibration = calibration
        self.rng = rng
        reset()
        registers.readOnly = [0xD0]
        registers.written = { [unowned self] register, value, now in self.written(register, value, now) }
    }

    public func perform(_ transfer: I2CTransfer, now: Int64) throws(SimI2CChipError) -> [UInt8] {
        try registers.perform(transfer, now: now)
    }

    private func reset() {
        var r = [UInt8](repeating: 0, count: 256)
        r[0xD0] = 0x60
        let c = calibration
        func put16(_ at: Int, _ v: UInt16) { r[at] = UInt8(v & 0xFF); r[at + 1] = UInt8(v >> 8) }
        put16(0x88, c.t1); put16(0x8A, UInt16(bitPattern: c.t2)); put16(0x8C, UInt16(bitPattern: c.t3))
        put16(0x8E, c.p1)
        for (i, p) in [c.p2, c.p3, c.p4, c.p5, c.p6, c.p7, c.p8, c.p9].enumerated() { put16(0x90 + 2 * i, UInt16(bitPattern: p)) }
        r[0xA1] = c.h1
        put16(0xE1, UInt16(bitPattern: c.h2))
        r[0xE3] = c.h3
        let h4 = UInt16(bitPattern: c.h4), h5 = UInt16(bitPattern: c.h5)
        r[0xE4] = UInt8((h4 >> 4) & 0xFF)
        r[0xE5] = UInt8(h4 & 0x0F) | UInt8((h5 & 0x0F) << 4)
        r[0xE6] = UInt8((h5 >> 4) & 0xFF)
        r[0xE7] = UInt8(bitPattern: c.h6)
        // The data registers' reset values (0x80000 / 0x8000: "no measurement yet").
        r[0xF7] = 0x80; r[0xFA] = 0x80; r[0xFD] = 0x80
        registers.registers = r
    }

    private func written(_ register: UInt8, _ value: UInt8, _ now: Int64) {
        switch register {
        case 0xE0 where value == 0xB6: reset()
        case 0xF4 where value & 0x03 != 0:
            measure(now)
            // Forced mode goes back to sleep once the measurement is in.
            if value & 0x03 != 0x03 { registers.registers[0xF4] = value & 0xFC }
        default: break
        }
    }

    /// The weather now, as raw ADC values in the data registers.
    private func measure(_ now: Int64) {
        measurements += 1
        let t = weather.temperature.value(at: now, rng: &rng)
        let h = min(max(weather.humidity.value(at: now, rng: &rng), 0), 100)
        let p = weather.pressure.value(at: now, rng: &rng) * 100
        let c = calibration
        let adcT = Self.bisect(to: t, increasing: true) { Self.temperature(adc: $0, c).celsius }
        let fine = Self.temperature(adc: adcT, c).fine
        let adcP = Self.bisect(to: p, increasing: false) { Self.pressure(adc: $0, fine: fine, c) }
        let adcH = Self.bisect(to: h, increasing: true, bits: 16) { Self.humidity(adc: $0, fine: fine, c) }
        var r = registers.registers
        r[0xF7] = UInt8((adcP >> 12) & 0xFF); r[0xF8] = UInt8((adcP >> 4) & 0xFF); r[0xF9] = UInt8((adcP & 0x0F) << 4)
        r[0xFA] = UInt8((adcT >> 12) & 0xFF); r[0xFB] = UInt8((adcT >> 4) & 0xFF); r[0xFC] = UInt8((adcT & 0x0F) << 4)
        r[0xFD] = UInt8((adcH >> 8) & 0xFF); r[0xFE] = UInt8(adcH & 0xFF)
        registers.registers = r
    }

    /// The ADC value (20 bits, or `bits`) whose reading is closest to `target`.
    public nonisolated static func bisect(to target: Double, increasing: Bool, bits: Int = 20, _ f: (Int32) -> Double) -> Int32 {
        var lo: Int32 = 0, hi: Int32 = (1 << bits) - 1
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if (f(mid) < target) == increasing { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    // MARK: the datasheet's floating-point compensation

    public nonisolated static func temperature(adc: Int32, _ c: Calibration) -> (celsius: Double, fine: Double) {
        let a = Double(adc), t1 = Double(c.t1)
        let v1 = (a / 16384 - t1 / 1024) * Double(c.t2)
        let v2 = (a / 131072 - t1 / 8192) * (a / 131072 - t1 / 8192) * Double(c.t3)
        return ((v1 + v2) / 5120, (v1 + v2).rounded(.towardZero))
    }

    /// Pa.
    public nonisolated static func pressure(adc: Int32, fine: Double, _ c: Calibration) -> Double {
        var v1 = fine / 2 - 64000
        var v2 = v1 * v1 * Double(c.p6) / 32768
        v2 += v1 * Double(c.p5) * 2
        v2 = v2 / 4 + Double(c.p4) * 65536
        v1 = (Double(c.p3) * v1 * v1 / 524288 + Double(c.p2) * v1) / 524288
        v1 = (1 + v1 / 32768) * Double(c.p1)
        if v1 == 0 { return 0 }
        var p = 1048576 - Double(adc)
        p = (p - v2 / 4096) * 6250 / v1
        v1 = Double(c.p9) * p * p / 2147483648
        v2 = p * Double(c.p8) / 32768
        return p + (v1 + v2 + Double(c.p7)) / 16
    }

    /// %RH.
    public nonisolated static func humidity(adc: Int32, fine: Double, _ c: Calibration) -> Double {
        var h = fine - 76800
        h = (Double(adc) - (Double(c.h4) * 64 + Double(c.h5) / 16384 * h))
            * (Double(c.h2) / 65536 * (1 + Double(c.h6) / 67108864 * h * (1 + Double(c.h3) / 67108864 * h)))
        h *= 1 - Double(c.h1) * h / 524288
        return min(max(h, 0), 100)
    }
}
