import Board
import Glibc
import Firmware
import Kernel
import KernelTestSupport
import MQTT
import SimBoard
import SimWorld
import Testing

/// The stock drivers and PWM on the simulated board, through the world's broker: a BME280
/// whose readings follow the weather (a minute-long day here, so it moves within the test), a
/// silent window that is the role's fault and ends, an ADS1115 whose channel follows its
/// input's curve, a value role read by the stock firmware, and a fan's duty set by command,
/// refused out of range, kept for the next start.
@Suite struct BusComponentTests {
    static let board = #"""
        {"board": "buses", "chip": "sim",
         "roles": {
           "status_led": {"type": "output", "line": "GPIO17"},
           "climate": {"type": "i2c", "bus": "sim:i2c-1", "address": "0x76", "driver": "bme280", "interval": "1s"},
           "adc": {"type": "i2c", "bus": "sim:i2c-1", "address": "0x48", "driver": "ads1115", "interval": "1s", "gain": 4.096,
                   "channels": {"soil": 0, "battery": {"input": 1, "scale": 2}}},
           "fan": {"type": "pwm", "chip": "sim", "channel": 0, "frequency_hz": 25000, "initial": 0.2, "restore": true},
           "tank": {"type": "value", "path": "sim:tank", "unit": "°C", "interval": "1s"}
         },
         "sim": {"network": {"latency": "5ms"}, "values": {"tank": {"base": 12, "swing": 2, "period": "60s"}},
                 "i2c": {"climate": {"temperature": {"base": 20, "swing": 5, "period": "60s"}, "humidity": {"base": 50, "swing": 0},
                                     "pressure": {"base": 1000, "swing": 0}, "silent": [{"at": "20s", "for": "10s"}]},
                         "adc": {"inputs": {"0": {"base": 1.5, "swing": 1, "period": "40s"}, "1": {"base": 1.8}}}}}}
        """#

    struct Seen {
        var t: Double
        var snapshot: JSON
    }

    static func run() throws -> (snapshots: [Seen], acks: [String], kept: Int) {
        let d = try BoardDescription.parse(board, file: "\(repositoryRoot)/boards/buses.json")
        let seen = try runSimulated(board: d, id: "b1", firmware: .stock, seconds: 45,
                                    commands: [#"{"id":"f1","set":{"fan":0.35}}"#, #"{"id":"f2","set":{"fan":1.5}}"#]) { device in
            // The commanded duty, kept for the next start (×1000).
            Int(((try? device.outbox.outputs.valuesNow()["fan"]) ?? -1).map { $0 * 1000 } ?? -1)
        }
        let start = parseISO8601("2026-01-01T00:00:00Z")!
        let snaps = try seen.snapshots.map { text -> Seen in
            let j = try JSON.parse(text)
            return Seen(t: Double(parseISO8601(j["time"]?.string ?? "")! - start) / 1e9, snapshot: j)
        }
        return (snaps, seen.acks, seen.after)
    }

    @Test func driversFollowTheWorldFaultWhenSilentAndTheFanFollowsCommands() throws {
        let (snaps, acks, kept) = try Self.run()
        #expect(snaps.count > 40)
        var temperatures: [Double] = []
        var faulted: [Double] = []
        for s in snaps {
            let faults = s.snapshot["faults"]?.array ?? []
            let climateFault = faults.first { $0["role"]?.string == "climate" }
            let c = s.snapshot["climate"]
            if let f = climateFault {
                faulted.append(s.t)
                #expect(f["error"]?.string == "role 'climate': no answer from 0x76 on sim:i2c-1 (check wiring, power and the address)")
                #expect(c?["temperature_c"]?.value == .null, "a failing sensor shows null, not a stale value")
                continue
            }
            guard let t = c?["temperature_c"]?.number else { continue }
            temperatures.append(t)
            // Read at most a second before the snapshot; the curve moves 0.53 °C/s at most.
            let curve = 20 + 5 * sin(s.t / 60 * 2 * Double.pi)
            #expect(abs(t - curve) < 0.6, "t=\(s.t): \(t) °C against \(curve)")
            #expect(abs((c?["humidity_pct"]?.number ?? 0) - 50) < 0.05)
            #expect(abs((c?["pressure_hpa"]?.number ?? 0) - 1000) < 0.01)
            let soil = s.snapshot["adc"]?["soil"]?.number ?? -9
            #expect(abs(soil - (1.5 + sin(s.t / 40 * 2 * Double.pi))) < 0.2, "t=\(s.t): soil \(soil) V")
            #expect(abs((s.snapshot["adc"]?["battery"]?.number ?? 0) - 3.6) < 0.001)
            // The value role, read by the stock ValueSensors every second (0.21 °C/s at most).
            let tank = s.snapshot["tank"]?.number ?? -99
            #expect(abs(tank - (12 + 2 * sin(s.t / 60 * 2 * Double.pi))) < 0.3, "t=\(s.t): tank \(tank) °C")
        }
        // The weather moved through the run.
        #expect((temperatures.min() ?? 99) < 17 && (temperatures.max() ?? 0) > 23)
        // The silent window (20 s to 30 s) is a fault, and it ends within the backoff.
        #expect(faulted.count >= 9)
        #expect((faulted.min() ?? 0) >= 20 && (faulted.min() ?? 0) < 22)
        #expect((faulted.max() ?? 99) < 30 + 8.5)
        #expect(snaps.last?.snapshot["faults"]?.array?.isEmpty == true)
        // The fan: its duty in snapshots, set by command, refused out of range, kept.
        #expect(snaps.first?.snapshot["pwm"]?["fan"]?.number == 0.2)
        #expect(snaps.last?.snapshot["pwm"]?["fan"]?.number == 0.35)
        #expect(acks.contains(#"{"id":"f1","ok":true}"#))
        #expect(acks.contains(#"{"id":"f2","ok":false,"error":"set.fan: duty 1.5 is out of range (expected 0 to 1)"}"#))
        #expect(kept == 350)
    }

    @Test func anUnknownDriverOrAMistakeInADriversKeysStopsTheStartNamingTheKey() throws {
        for (role, expected) in [
            (#""x": {"type": "i2c", "bus": "sim:i2c-1", "address": "0x40", "driver": "sht31"}"#,
             "roles.x.driver: no driver 'sht31' in this firmware (it has: ads1115, bme280)"),
            (#""x": {"type": "i2c", "bus": "sim:i2c-1", "address": "0x76", "driver": "bme280", "oversampling": 3}"#,
             "roles.x.oversampling: expected 1, 2, 4, 8 or 16, got 3"),
            (#""x": {"type": "i2c", "bus": "sim:i2c-1", "address": "0x48", "driver": "ads1115", "gain": 5, "channels": {"a": 4}}"#,
             "roles.x.gain: expected a full-scale range in volts"),
            (#""x": {"type": "i2c", "bus": "sim:i2c-1", "address": "0x48", "driver": "ads1115", "channels": {"a": 4}}"#,
             "roles.x.channels.a: expected an input 0 to 3"),
            (#""x": {"type": "i2c", "bus": "sim:i2c-1", "address": "0x48", "driver": "ads1115"}"#,
             "roles.x.channels: missing (required)"),
            (#""x": {"type": "i2c", "bus": "sim:i2c-1", "address": "0x48", "driver": "ads1115", "channels": {"a": 0}, "colour": 1}"#,
             "roles.x.colour: unknown key"),
        ] {
            let d = try BoardDescription.parse(#"{"board": "b", "chip": "sim", "roles": {\#(role)}}"#, file: "b.json")
            let text = try kernelTest { () async throws -> String in
                let b = try SimHardware(d, seed: 1)
                let device = Device(board: b, config: FirmwareConfig(deviceID: "d"), outbox: try Outbox(path: ":memory:", offloaded: false), network: nil)
                do {
                    try await device.attach()
                    return "attached"
                } catch { return "\(error)" }
            }
            #expect(text.contains(expected), "\(text)")
            #expect(text.contains("b.json"))
        }
    }
}
