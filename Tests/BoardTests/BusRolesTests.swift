import Board
import Testing

/// I2C and PWM roles in a board file: what they hold, and every mistake named by key.
@Suite struct BusRolesTests {
    static func parse(_ roles: String) throws -> BoardDescription {
        try BoardDescription.parse(#"{"board": "b", "roles": {\#(roles)}}"#, file: "b.json")
    }

    static func problems(_ roles: String) -> String {
        do {
            _ = try parse(roles)
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func anI2CRoleHasItsBusAddressDriverAndInterval() throws {
        let d = try Self.parse(#"""
            "climate": {"type": "i2c", "bus": "/dev/i2c-1", "address": "0x76", "driver": "bme280", "interval": "30s", "oversampling": 2},
            "adc": {"type": "i2c", "bus": "SMBus stub driver", "address": 72}
            """#)
        let c = try #require(d.role("climate")?.i2c)
        #expect(c.bus == "/dev/i2c-1" && c.address == 0x76 && c.driver == "bme280" && c.intervalNanoseconds == 30_000_000_000)
        // A driver's own keys stay in the object for it.
        #expect(c.object["oversampling"]?.int == 2)
        #expect(c.label == "0x76 on /dev/i2c-1")
        let a = try #require(d.role("adc")?.i2c)
        #expect(a.address == 0x48 && a.driver == nil && a.intervalNanoseconds == 10_000_000_000)
        #expect(d.role("adc")?.kind.phrase == "an I2C device")
    }

    @Test func aPWMRoleHasItsChipChannelFrequencyAndDuty() throws {
        let d = try Self.parse(#""fan": {"type": "pwm", "chip": "fe20c000.pwm", "channel": 1, "frequency_hz": 25000, "initial": 0.3, "restore": true, "inverted": true}"#)
        let p = try #require(d.role("fan")?.pwm)
        #expect(p == PWMSpec(chip: "fe20c000.pwm", channel: 1, frequencyHz: 25000, initial: 0.3, restore: true, inverted: true))
        #expect(p.periodNanoseconds == 40_000)
        // A restored duty replaces the initial one, clamped to 0...1.
        #expect(d.restoring(["fan": 0.75]).role("fan")?.pwm?.initial == 0.75)
        #expect(d.restoring(["fan": 7]).role("fan")?.pwm?.initial == 1)
    }

    @Test(arguments: [
        (#""x": {"type": "i2c", "bus": "/dev/i2c-1"}"#, "roles.x.address: missing (required)"),
        (#""x": {"type": "i2c", "bus": "/dev/i2c-1", "address": "0x78"}"#, "roles.x.address: expected a 7-bit address from 0x03 to 0x77"),
        (#""x": {"type": "i2c", "bus": "/dev/i2c-1", "address": "seventy"}"#, "roles.x.address: expected a 7-bit address"),
        (#""x": {"type": "i2c", "address": "0x76"}"#, "roles.x.bus: missing (required)"),
        (#""x": {"type": "i2c", "bus": "/dev/i2c-1", "address": 118, "speed": 400}"#, "roles.x.speed: unknown key"),
        (#""x": {"type": "i2c", "bus": "/dev/i2c-1", "address": 118, "interval": "1ms"}"#, "roles.x.interval: expected at least 10ms"),
        (#""x": {"type": "i2c", "bus": "/dev/i2c-1", "address": 118}, "y": {"type": "i2c", "bus": "/dev/i2c-1", "address": "0x76"}"#,
         "0x76 on /dev/i2c-1 is already used by role 'x'"),
        (#""f": {"type": "pwm", "chip": "fe20c000.pwm"}"#, "roles.f.frequency_hz: missing (required)"),
        (#""f": {"type": "pwm", "chip": "fe20c000.pwm", "frequency_hz": 0}"#, "roles.f.frequency_hz: expected 0.1 to 50000000 Hz"),
        (#""f": {"type": "pwm", "chip": "fe20c000.pwm", "frequency_hz": 50, "initial": 1.5}"#, "roles.f.initial: expected a duty cycle from 0 to 1"),
        (#""f": {"type": "pwm", "frequency_hz": 50}"#, "roles.f.chip: missing (required)"),
        (#""f": {"type": "pwm", "chip": "c", "channel": 0, "frequency_hz": 50}, "g": {"type": "pwm", "chip": "c", "frequency_hz": 9}"#,
         "c channel 0 is already used by role 'f'"),
    ])
    func mistakesAreNamedByKey(_ roles: String, _ expected: String) {
        let text = Self.problems(roles)
        #expect(text.contains(expected), "\(text)")
        #expect(text.contains("b.json"))
    }
}
