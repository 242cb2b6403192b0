import Board
import Firmware
import Kernel
import KernelTestSupport
import SimBoard
import Testing

/// The drivers' arithmetic, on its own: the BME280's integer compensation against the
/// datasheet's worked example and against its floating-point formulas (which the simulated
/// chip uses), its calibration layout, the ADS1115's config word and volts.
@Suite struct DriverTests {
    /// The calibration words a simulated BME280 holds, read back from its registers the way
    /// the driver reads them.
    static func simCalibration() throws -> (BME280.Calibration, SimBME280.Calibration) {
        try kernelTest { () async throws -> (BME280.Calibration, SimBME280.Calibration) in
            let chip = SimBME280(rng: SeededRandom(seed: 1, stream: "t"))
            let r = chip.registers.registers
            return (BME280.Calibration(Array(r[0x88...0xA1]), Array(r[0xE1...0xE7])), chip.calibration)
        }
    }

    @Test func calibrationIsReadAsTheDatasheetLaysItOut() throws {
        let (read, held) = try Self.simCalibration()
        #expect(read.t1 == held.t1 && read.t2 == held.t2 && read.t3 == held.t3)
        #expect([read.p1] == [held.p1])
        #expect([read.p2, read.p3, read.p4, read.p5, read.p6, read.p7, read.p8, read.p9]
                == [held.p2, held.p3, held.p4, held.p5, held.p6, held.p7, held.p8, held.p9])
        // H4 and H5 share 0xE5's nibbles.
        #expect(read.h1 == held.h1 && read.h2 == held.h2 && read.h3 == held.h3 && read.h4 == held.h4 && read.h5 == held.h5 && read.h6 == held.h6)
    }

    /// The BMP280 datasheet's example (3.12; the BME280's temperature and pressure formulas
    /// are the same): adc_T 519888 and adc_P 415148 are 25.08 °C (t_fine 128422) and
    /// 100653.27 Pa in double precision. The 64-bit integer formula gives 25767233 (Pa × 256,
    /// 100653.254 Pa): the C reference computed with exact integers (Python) agrees.
    @Test func temperatureAndPressureMatchTheDatasheetsWorkedExample() throws {
        let (c, held) = try Self.simCalibration()
        let (centi, fine) = BME280.temperature(adc: 519888, c)
        #expect(centi == 2508)
        #expect(fine == 128422)
        #expect(BME280.pressure(adc: 415148, fine: fine, c) == 25767233)
        // The floating-point formulas agree.
        let t = SimBME280.temperature(adc: 519888, held)
        #expect(abs(t.celsius - 25.08) < 0.005)
        #expect(abs(SimBME280.pressure(adc: 415148, fine: t.fine, held) - 100653.27) < 0.05)
    }

    /// Humidity has no worked example: the integer result follows the floating-point one
    /// within 0.05 %RH from dry to saturated, at three temperatures.
    @Test func humidityFollowsTheFloatingPointFormula() throws {
        let (c, held) = try Self.simCalibration()
        for adcT in [Int32(400_000), 519_888, 600_000] {
            let fine = BME280.temperature(adc: adcT, c).fine
            let fineD = SimBME280.temperature(adc: adcT, held).fine
            var worst = 0.0
            for adcH in stride(from: Int32(20_000), through: 45_000, by: 250) {
                let h = Double(BME280.humidity(adc: adcH, fine: fine, c)) / 1024
                worst = max(worst, abs(h - SimBME280.humidity(adc: adcH, fine: fineD, held)))
            }
            #expect(worst < 0.05, "adc_T \(adcT): \(worst) %RH apart")
        }
    }

    /// Garbled registers give a wrong number (refused by the driver's range check), not a trap.
    @Test func garbageNeverTraps() throws {
        let (c, _) = try Self.simCalibration()
        for adc in [Int32(0), 0xFFFFF, 0x80000, 1] {
            let fine = BME280.temperature(adc: adc, c).fine
            _ = BME280.pressure(adc: adc, fine: fine, c)
            _ = BME280.humidity(adc: adc & 0xFFFF, fine: fine, c)
        }
    }

    @Test func ads1115ConfigWordAndVolts() {
        // AIN0 against GND, ±4.096 V, 128 SPS, single shot, comparator off: the datasheet's 0xC383.
        #expect(ADS1115.config(input: 0, pga: 1, dataRate: 4) == 0xC383)
        #expect(ADS1115.config(input: 3, pga: 2, dataRate: 7) == 0xF5E3)
        #expect(ADS1115.volts(0x7FFF, pga: 1) == 4.096 * 32767 / 32768)
        #expect(ADS1115.volts(0x8000, pga: 1) == -4.096)
        #expect(ADS1115.volts(0x4000, pga: 2) == 1.024)
    }
}
