import Board
import Kernel

/// A TI ADS1115 16-bit ADC on I2C (address 0x48 to 0x4B), as a board file names it:
/// `{"type": "i2c", "bus": "/dev/i2c-1", "address": "0x48", "driver": "ads1115",
/// "gain": 4.096, "rate": 128, "channels": {"soil": 0, "battery": {"input": 1, "scale": 2}}}`.
///
/// Every interval, one single-shot conversion per channel (input against GND): the config
/// register written with OS set, the conversion time at the data rate slept, OS polled until
/// the part says it is done, the conversion register read. `gain` is the full-scale range in
/// volts (6.144, 4.096, 2.048, 1.024, 0.512 or 0.256; default 2.048), `rate` the samples per
/// second (8 … 860; default 128); a channel's `scale` multiplies its volts (a divider). In
/// every snapshot as `"adc": {"soil": 1.2345, "battery": 7.41}` (volts; nulls while it fails),
/// and as a Home Assistant voltage sensor per channel.
@KernelActor
public final class ADS1115: SensorDriver {
    public struct Channel: Sendable, Equatable {
        public var name: String
        /// AIN0 … AIN3.
        public var input: Int
        public var scale = 1.0
    }

    public nonisolated static let gains: [Double] = [6.144, 4.096, 2.048, 1.024, 0.512, 0.256]
    public nonisolated static let rates = [8, 16, 32, 64, 128, 250, 475, 860]

    public let role: String
    public private(set) var channels: [Channel] = []
    /// Config bits 11:9 and 7:5.
    private var pga = 2, dataRate = 4
    private unowned var device: Device!
    private var adc: (any I2CDevice)!
    private var poll: SensorPoll<[Double]>!

    public init(role: String) { self.role = role }

    public var readings: Int { poll?.readings ?? 0 }
    public var failures: Int { poll?.failures ?? 0 }

    /// The config word that starts a single-shot conversion of `input` against GND:
    /// OS=1, MUX=1xx, PGA, MODE=single-shot, DR, comparator off (COMP_QUE=11).
    public nonisolated static func config(input: Int, pga: Int, dataRate: Int) -> UInt16 {
        0x8000 | UInt16(4 + input) << 12 | UInt16(pga) << 9 | 0x0100 | UInt16(dataRate) << 5 | 0x0003
    }

    /// Volts of a conversion result at PGA setting `pga`.
    public nonisolated static func volts(_ raw: UInt16, pga: Int) -> Double {
        Double(Int16(bitPattern: raw)) * gains[pga] / 32768
    }

    public func attach(to device: Device) throws {
        self.device = device
        var o = try DriverOptions(role, of: device.board.description, known: ["gain", "rate", "channels"])
        let path = o.path
        if let g = o.problems.number(o.object, "gain", at: path) {
            if let i = Self.gains.firstIndex(of: g) { pga = i } else {
                o.problems.add("\(path).gain", o.object["gain"], "expected a full-scale range in volts: \(Self.gains.map { "\($0)" }.joined(separator: ", "))")
            }
        }
        if let n = o.problems.int(o.object, "rate", at: path, range: 1...860) {
            if let i = Self.rates.firstIndex(of: n) { dataRate = i } else {
                o.problems.add("\(path).rate", o.object["rate"], "expected samples per second: \(Self.rates.map(String.init).joined(separator: ", "))")
            }
        }
        if let c = o.object["channels"], let members = c.members, !members.isEmpty {
            for m in members {
                let cp = "\(path).channels.\(m.key)"
                var ch = Channel(name: m.key, input: 0)
                if m.value.members != nil {
                    o.problems.rejectUnknown(m.value, at: cp, known: ["input", "scale"])
                    ch.input = o.problems.int(m.value, "input", at: cp, range: 0...3) ?? 0
                    if m.value["input"] == nil { o.problems.add("\(cp).input", m.value, "missing (required): AIN 0 to 3") }
                    ch.scale = o.problems.number(m.value, "scale", at: cp, min: -1e9) ?? 1
                } else if let n = m.value.int, (0...3).contains(n) {
                    ch.input = n
                } else {
                    o.problems.add(cp, m.value, "expected an input 0 to 3, or {\"input\": n, \"scale\": x}")
                }
                channels.append(ch)
            }
        } else {
            o.problems.add("\(path).channels", o.object["channels"] ?? o.object, "missing (required): an object of name: input (0 to 3), such as {\"a0\": 0}")
        }
        try o.check()
        adc = try device.board.i2c(role)
        try adc.require(.wordData)
        poll = SensorPoll(role: role, interval: o.spec.intervalNanoseconds)
    }

    public func start(in group: TaskGroupScope) {
        group.spawn("ads1115") { try await self.poll.run(on: self.device, setUp: self.setUp, measure: self.measure) }
    }

    /// The part has no id register: reading its config is the check that it answers.
    func setUp() async throws { _ = try await adc.readBigEndian16(0x01) }

    func measure() async throws -> [Double] {
        var out: [Double] = []
        // The conversion time at the data rate, and 10% for the part's oscillator (datasheet 7.3: ±10%).
        let conversion = Int64(1.1e9 / Double(Self.rates[dataRate])) + 200_000
        for ch in channels {
            try await adc.writeBigEndian16(0x01, Self.config(input: ch.input, pga: pga, dataRate: dataRate))
            try await sleep(until: Kernel.now + conversion, tolerance: Kernel.coarseTolerance)
            var polls = 0
            while try await adc.readBigEndian16(0x01) & 0x8000 == 0 {
                polls += 1
                if polls > 10 { throw BoardError.i2cDevice(bus: adc.bus, address: adc.address, role: role, problem: "conversion not done after 10 polls") }
                try await sleep(until: Kernel.now + conversion / 4, tolerance: Kernel.coarseTolerance)
            }
            out.append(Self.volts(try await adc.readBigEndian16(0x00), pga: pga) * ch.scale)
        }
        return out
    }

    public func sample(into s: inout Snapshot) async {
        let r = poll.reading, names = channels.map(\.name)
        s.add(role) { w in
            w.object { w in for (i, n) in names.enumerated() { w.key(n); w.number(r?[i], digits: 4) } }
        }
    }

    public func discover(into a: inout HomeAssistantDiscovery.Announcement) {
        for ch in channels {
            a.addSnapshotSensor("\(role)_\(ch.name)", name: "\(role) \(ch.name)", field: "\(role).\(ch.name)", deviceClass: "voltage",
                                unit: "V", precision: 3)
        }
        a.addProblemSensor(role)
    }
}
