import Board
import Kernel

/// A TI ADS1115 in simulation: the pointer register and its four 16-bit registers
/// (conversion, config, two thresholds; big-endian on the wire), a single-shot conversion
/// made when the config's OS bit is written, of the input its MUX names at its PGA's full
/// scale (clipped there, as the part does). Each single-ended input follows a curve of the
/// world's (`sim.i2c.<role>.inputs`: `{"0": {"base": 1.65, "swing": 0.5, "period": "1h"}}`,
/// volts); an input without one reads 0 V.
@KernelActor
public final class SimADS1115: SimI2CChip {
    public var inputs: [Int: SimCurve]
    private var rng: SeededRandom
    private var pointer = 0
    /// conversion, config (power-on 0x8583), lo_thresh, hi_thresh.
    public private(set) var registers: [UInt16] = [0, 0x8583, 0x8000, 0x7FFF]
    public private(set) var conversions = 0

    public init(inputs: [Int: SimCurve], rng: SeededRandom) {
        self.inputs = inputs
        self.rng = rng
    }

    /// Full-scale volts of a PGA setting (config bits 11:9).
    public static func fullScale(pga: Int) -> Double { [6.144, 4.096, 2.048, 1.024, 0.512, 0.256, 0.256, 0.256][pga & 7] }

    public func perform(_ t: I2CTransfer, now: Int64) throws(SimI2CChipError) -> [UInt8] {
        switch t {
        case .writeByte(let r): pointer = Int(r & 3); return []
        case .readWordData(let r): pointer = Int(r & 3); return wire(registers[pointer])
        case .writeWordData(let r, let v): pointer = Int(r & 3); write(v.byteSwapped, now); return []
        case .readBlock(let r, let n): pointer = Int(r & 3); return Array(wire(registers[pointer]).prefix(n))
        case .writeBlock(let r, let b) where b.count == 2:
            pointer = Int(r & 3); write(UInt16(b[0]) << 8 | UInt16(b[1]), now); return []
        case .writeRead(let w, let n) where w.count == 1:
            pointer = Int(w[0] & 3); return Array(wire(registers[pointer]).prefix(n))
        case .readByte: return [UInt8(registers[pointer] >> 8)]
        default: throw SimI2CChipError("the ADS1115 takes a pointer byte and 16-bit registers, not \(t)")
        }
    }

    /// MSB first, as the part sends it (SMBus's "low byte" is the first on the wire).
    private func wire(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xFF)] }

    private func write(_ v: UInt16, _ now: Int64) {
        guard pointer != 0 else { return }   // the conversion register is read-only
        if pointer == 1 {
            registers[1] = v & 0x7FFF | 0x8000   // OS reads 1: the single shot is done at once
            if v & 0x8000 != 0 { convert(v, now) }
        } else {
            registers[pointer] = v
        }
    }

    private func convert(_ config: UInt16, _ now: Int64) {
        conversions += 1
        let mux = Int(config >> 12) & 7
        let fs = Self.fullScale(pga: Int(config >> 9) & 7)
        let volts: Double
        if mux >= 4 {
            volts = inputs[mux - 4].map { $0.value(at: now, rng: &rng) } ?? 0
        } else {
            // Differential pairs: AIN0-AIN1, AIN0-AIN3, AIN1-AIN3, AIN2-AIN3.
            let pairs = [(0, 1), (0, 3), (1, 3), (2, 3)]
            let (a, b) = pairs[mux]
            volts = (inputs[a].map { $0.value(at: now, rng: &rng) } ?? 0) - (inputs[b].map { $0.value(at: now, rng: &rng) } ?? 0)
        }
        let code = (volts / fs * 32768).rounded()
        registers[0] = UInt16(bitPattern: Int16(min(max(code, -32768), 32767)))
    }
}
