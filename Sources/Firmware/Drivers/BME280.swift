import Board
import Kernel

/// A Bosch BME280 temperature, humidity and pressure sensor on I2C (address 0x76 or 0x77), as
/// a board file names it: `{"type": "i2c", "bus": "/dev/i2c-1", "address": "0x76",
/// "driver": "bme280", "interval": "10s", "oversampling": 1}`.
///
/// The chip id is checked (0x60; a BMP280, 0x58, has no humidity and is refused by name) and
/// its calibration read once; then every interval a forced-mode measurement (the chip sleeps
/// in between, drawing 0.1 µA) compensated with the datasheet's integer formulas (BME280
/// datasheet 4.2.3: 32-bit temperature, 64-bit pressure, 32-bit humidity). In every snapshot
/// as `"climate": {"temperature_c": 21.53, "humidity_pct": 45.21, "pressure_hpa": 1013.25}`
/// (nulls while it fails), and as three Home Assistant sensors.
///
/// It is also the worked example of writing a sensor driver (the README's "Write your own
/// sensor"): the board-file keys (`DriverOptions`), the schedule and fault (`SensorPoll`), the
/// register reads (`I2CDevice`), and the snapshot fields and entities.
@KernelActor
public final class BME280: SensorDriver {
    /// Calibration words (datasheet table 16), as the chip holds them.
    public struct Calibration: Sendable, Equatable {
        public var t1: UInt16, t2: Int16, t3: Int16
        public var p1: UInt16, p2: Int16, p3: Int16, p4: Int16, p5: Int16, p6: Int16, p7: Int16, p8: Int16, p9: Int16
        public var h1: UInt8, h2: Int16, h3: UInt8, h4: Int16, h5: Int16, h6: Int8

        /// From registers 0x88…0xA1 (26 bytes) and 0xE1…0xE7 (7 bytes).
        public init(_ a: [UInt8], _ b: [UInt8]) {
            func u16(_ x: [UInt8], _ i: Int) -> UInt16 { UInt16(x[i]) | UInt16(x[i + 1]) << 8 }
            func s16(_ x: [UInt8], _ i: Int) -> Int16 { Int16(bitPattern: u16(x, i)) }
            t1 = u16(a, 0); t2 = s16(a, 2); t3 = s16(a, 4)
            p1 = u16(a, 6); p2 = s16(a, 8); p3 = s16(a, 10); p4 = s16(a, 12); p5 = s16(a, 14)
            p6 = s16(a, 16); p7 = s16(a, 18); p8 = s16(a, 20); p9 = s16(a, 22)
            h1 = a[25]
            h2 = s16(b, 0)
            h3 = b[2]
            // 12-bit signed, sharing 0xE5: H4 = E4[7:0] E5[3:0], H5 = E6[7:0] E5[7:4].
            h4 = Int16(Int8(bitPattern: b[3])) << 4 | Int16(b[4] & 0x0F)
            h5 = Int16(Int8(bitPattern: b[5])) << 4 | Int16(b[4] >> 4)
            h6 = Int8(bitPattern: b[6])
        }
    }

    /// One measurement.
    public struct Reading: Sendable, Equatable {
        /// °C, in steps of 0.01.
        public var temperature: Double
        /// hPa.
        public var pressure: Double
        /// %RH.
        public var humidity: Double
    }

    public let role: String
    public private(set) var calibration: Calibration?
    private unowned var device: Device!
    private var sensor: (any I2CDevice)!
    private var poll: SensorPoll<Reading>!
    /// The osrs_* field of all three measurements (1: ×1 … 5: ×16).
    private var oversampling: UInt8 = 1

    public init(role: String) { self.role = role }

    public var readings: Int { poll?.readings ?? 0 }
    public var failures: Int { poll?.failures ?? 0 }

    public func attach(to device: Device) throws {
        self.device = device
        var o = try DriverOptions(role, of: device.board.description, known: ["oversampling"])
        if let n = o.problems.int(o.object, "oversampling", at: o.path, range: 1...16) {
            if let f = [1: 1, 2: 2, 4: 3, 8: 4, 16: 5][n] { oversampling = UInt8(f) } else {
                o.problems.add("\(o.path).oversampling", o.object["oversampling"], "expected 1, 2, 4, 8 or 16, got \(n)")
            }
        }
        try o.check()
        sensor = try device.board.i2c(role)
        try sensor.require(.byteData)
        poll = SensorPoll(role: role, interval: o.spec.intervalNanoseconds)
    }

    public func start(in group: TaskGroupScope) {
        group.spawn("bme280") { try await self.poll.run(on: self.device, setUp: self.setUp, measure: self.measure) }
    }

    /// The chip id, then the calibration.
    func setUp() async throws {
        let id = try await sensor.readByteData(0xD0)
        guard id == 0x60 else {
            let what = id == 0x58 ? "a BMP280 (no humidity), not a BME280" : id == 0x61 ? "a BME680, not a BME280" : "not a BME280's (0x60)"
            throw BoardError.i2cDevice(bus: sensor.bus, address: sensor.address, role: role, problem: "chip id \(I2CSpec.hex(Int(id))) is \(what)")
        }
        let a = try await sensor.readRegisters(0x88, count: 26)
        let b = try await sensor.readRegisters(0xE1, count: 7)
        calibration = Calibration(a, b)
    }

    /// One forced-mode measurement: ctrl_hum, then ctrl_meas (which starts it), the
    /// datasheet's maximum measurement time, then the eight data registers.
    func measure() async throws -> Reading {
        try await sensor.writeByteData(0xF2, oversampling)
        try await sensor.writeByteData(0xF4, oversampling << 5 | oversampling << 2 | 0x01)
        // Datasheet 9.1: 1.25 + 2.3·T + (2.3·P + 0.575) + (2.3·H + 0.575) ms at most.
        let times = Double(1 << (oversampling - 1))
        try await sleep(until: Kernel.now + Int64((1.25 + 2.3 * times * 3 + 1.15) * 1e6), tolerance: Kernel.coarseTolerance)
        var polls = 0
        while try await sensor.readByteData(0xF3) & 0x08 != 0 {
            polls += 1
            if polls > 10 { throw BoardError.i2cDevice(bus: sensor.bus, address: sensor.address, role: role, problem: "still measuring after 30 ms") }
            try await sleep(ms: 2, tolerance: Kernel.coarseTolerance)
        }
        let d = try await sensor.readRegisters(0xF7, count: 8)
        let adcP = Int32(d[0]) << 12 | Int32(d[1]) << 4 | Int32(d[2]) >> 4
        let adcT = Int32(d[3]) << 12 | Int32(d[4]) << 4 | Int32(d[5]) >> 4
        let adcH = Int32(d[6]) << 8 | Int32(d[7])
        if adcT == 0x80000 {
            throw BoardError.i2cDevice(bus: sensor.bus, address: sensor.address, role: role, problem: "no measurement in the data registers (0x80000)")
        }
        let r = Self.compensate(adcT: adcT, adcP: adcP, adcH: adcH, calibration!)
        // The part's operating range (datasheet 1): outside it the registers were garbled.
        guard (-40...85).contains(r.temperature), (300...1100).contains(r.pressure) else {
            throw BoardError.i2cDevice(bus: sensor.bus, address: sensor.address, role: role,
                                       problem: "reading out of the sensor's range (\(r.temperature) °C, \(r.pressure) hPa): a garbled transfer?")
        }
        return r
    }

    // MARK: the datasheet's integer compensation (4.2.3)
    //
    // In wrapping arithmetic (&+ &- &* &<<), as the C reference computes it: a real part's
    // values stay in range, and registers a damaged bus garbled give a wrong number (which the
    // reading's bounds catch), never a trap.

    /// Temperature in 0.01 °C, and t_fine (which pressure and humidity use).
    public nonisolated static func temperature(adc: Int32, _ c: Calibration) -> (centi: Int32, fine: Int32) {
        let t1 = Int32(c.t1), t2 = Int32(c.t2), t3 = Int32(c.t3)
        let var1 = (((adc >> 3) &- (t1 &<< 1)) &* t2) >> 11
        let d = (adc >> 4) &- t1
        let var2 = (((d &* d) >> 12) &* t3) >> 14
        let fine = var1 &+ var2
        return ((fine &* 5 &+ 128) >> 8, fine)
    }

    /// Pressure in Pa as Q24.8 (Pa × 256); 0 where the formula would divide by zero.
    public nonisolated static func pressure(adc: Int32, fine: Int32, _ c: Calibration) -> UInt32 {
        var var1 = Int64(fine) - 128000
        var var2 = var1 &* var1 &* Int64(c.p6)
        var2 = var2 &+ ((var1 &* Int64(c.p5)) &<< 17)
        var2 = var2 &+ (Int64(c.p4) &<< 35)
        var1 = ((var1 &* var1 &* Int64(c.p3)) >> 8) &+ ((var1 &* Int64(c.p2)) &<< 12)
        var1 = (((Int64(1) << 47) &+ var1) &* Int64(c.p1)) >> 33
        if var1 == 0 { return 0 }
        var p = 1048576 - Int64(adc)
        p = (((p &<< 31) &- var2) &* 3125) / var1
        var1 = (Int64(c.p9) &* (p >> 13) &* (p >> 13)) >> 25
        var2 = (Int64(c.p8) &* p) >> 19
        p = ((p &+ var1 &+ var2) >> 8) &+ (Int64(c.p7) &<< 4)
        return UInt32(truncatingIfNeeded: p)
    }

    /// Humidity in %RH as Q22.10 (%RH × 1024).
    public nonisolated static func humidity(adc: Int32, fine: Int32, _ c: Calibration) -> UInt32 {
        var v = fine &- 76800
        let h1 = Int32(c.h1), h2 = Int32(c.h2), h3 = Int32(c.h3), h4 = Int32(c.h4), h5 = Int32(c.h5), h6 = Int32(c.h6)
        let a = (((adc &<< 14) &- (h4 &<< 20) &- (h5 &* v)) &+ 16384) >> 15
        let b = ((((((v &* h6) >> 10) &* (((v &* h3) >> 11) &+ 32768)) >> 10) &+ 2097152) &* h2 &+ 8192) >> 14
        v = a &* b
        v = v &- (((((v >> 15) &* (v >> 15)) >> 7) &* h1) >> 4)
        v = min(max(v, 0), 419430400)
        return UInt32(v >> 12)
    }

    public nonisolated static func compensate(adcT: Int32, adcP: Int32, adcH: Int32, _ c: Calibration) -> Reading {
        let (centi, fine) = temperature(adc: adcT, c)
        return Reading(temperature: Double(centi) / 100, pressure: Double(pressure(adc: adcP, fine: fine, c)) / 256 / 100,
                       humidity: Double(humidity(adc: adcH, fine: fine, c)) / 1024)
    }

    // MARK: what it shows

    public func sample(into s: inout Snapshot) async {
        let r = poll.reading
        s.add(role) { w in
            w.object { w in
                w.key("temperature_c"); w.number(r?.temperature, digits: 2)
                w.key("humidity_pct"); w.number(r?.humidity, digits: 2)
                w.key("pressure_hpa"); w.number(r?.pressure, digits: 2)
            }
        }
    }

    public func status(into line: inout StatusLine) {
        guard let r = poll.reading else { return }
        line.add("\(role) \(Self.format(r.temperature, 1)) °C \(Self.format(r.humidity, 0)) % \(Self.format(r.pressure, 0)) hPa")
    }

    public func discover(into a: inout HomeAssistantDiscovery.Announcement) {
        a.addSnapshotSensor("\(role)_temperature", name: "\(role) temperature", field: "\(role).temperature_c", deviceClass: "temperature",
                            unit: "°C", precision: 1)
        a.addSnapshotSensor("\(role)_humidity", name: "\(role) humidity", field: "\(role).humidity_pct", deviceClass: "humidity",
                            unit: "%", precision: 0)
        a.addSnapshotSensor("\(role)_pressure", name: "\(role) pressure", field: "\(role).pressure_hpa", deviceClass: "atmospheric_pressure",
                            unit: "hPa", precision: 1)
        a.addProblemSensor(role)
    }

    /// `value` with `digits` decimals, for the status line.
    nonisolated static func format(_ value: Double, _ digits: Int) -> String {
        var w = JSONWriter(capacity: 12)
        w.number(value, digits: digits)
        return w.text
    }
}
