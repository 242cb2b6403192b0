import Board
import Glibc
import Kernel
import KernelTestSupport
@testable import LinuxBoard
import Testing

/// sysfs PWM on a fake /sys/class/pwm: the chip found by its device, the channel's period,
/// polarity, duty and enable written in an order the kernel accepts, duty set and refused
/// outside 0...1, and the channel disabled and unexported on release. The real sysfs runs in
/// the HIL VM, against the project's own PWM chip module.
@Suite struct PWMTests {
    /// pwmchip0 (device fe20c000.pwm, 2 channels); pwmchip2 (device 1f00098000.pwm, 4
    /// channels); `exported`: channel directories of pwmchip0 that exist already.
    static func tree(exported: [Int] = []) -> String {
        let dir = temporaryDirectory("firmloop-pwm")
        mkdir("\(dir)/devices", 0o755)
        for (chip, device, n) in [("pwmchip0", "fe20c000.pwm", 2), ("pwmchip2", "1f00098000.pwm", 4)] {
            mkdir("\(dir)/devices/\(device)", 0o755)
            mkdir("\(dir)/\(chip)", 0o755)
            symlink("../devices/\(device)", "\(dir)/\(chip)/device")
            _ = writeBytes("\(dir)/\(chip)/npwm", Array("\(n)\n".utf8))
            for f in ["export", "unexport"] { _ = writeBytes("\(dir)/\(chip)/\(f)", []) }
        }
        for c in exported {
            mkdir("\(dir)/pwmchip0/pwm\(c)", 0o755)
            for f in ["period", "duty_cycle", "polarity", "enable"] { _ = writeBytes("\(dir)/pwmchip0/pwm\(c)/\(f)", Array("0\n".utf8)) }
        }
        return dir
    }

    static func read(_ path: String) -> String { readFile(path) ?? "(missing)" }

    @Test func aChannelIsSetUpSetAndReleased() throws {
        let dir = Self.tree(exported: [1])
        defer { removeDirectory(dir) }
        let ch = "\(dir)/pwmchip0/pwm1"
        let spec = PWMSpec(chip: "fe20c000.pwm", channel: 1, frequencyHz: 25000, initial: 0.25, inverted: true)
        let seen = try kernelTest { () async throws -> [String] in
            let p = try LinuxPWM(role: "fan", spec: spec, sysfs: dir)
            var seen = ["period", "duty_cycle", "polarity", "enable"].map { Self.read("\(ch)/\($0)") }
            try p.set(duty: 0.5)
            seen.append(Self.read("\(ch)/duty_cycle"))
            seen.append("\(p.duty)")
            seen.append((try? p.set(duty: 1.5)).map { "set" } ?? "refused")
            seen.append(Self.read("\(ch)/duty_cycle"))
            p.release()
            seen += [Self.read("\(ch)/enable"), Self.read("\(dir)/pwmchip0/unexport")]
            return seen
        }
        #expect(seen == ["40000", "10000", "inversed", "1", "20000", "0.5", "refused", "20000", "0", "1"])
        // Exported already (a killed run's): not exported again.
        #expect(Self.read("\(dir)/pwmchip0/export") == "")
    }

    @Test func anUnexportedChannelIsExportedAndAFailureReleasesIt() throws {
        let dir = Self.tree()
        defer { removeDirectory(dir) }
        let spec = PWMSpec(chip: "pwmchip0", channel: 1, frequencyHz: 50)
        let text = try kernelTest { () async throws -> String in
            do {
                _ = try LinuxPWM(role: "servo", spec: spec, sysfs: dir)
                return "made"
            } catch { return "\(error)" }
        }
        #expect(Self.read("\(dir)/pwmchip0/export") == "1")
        // The fake kernel made no pwm1: the first attribute's error names the role and file.
        #expect(text.hasPrefix("open failed for role 'servo': \(dir)/pwmchip0/pwm1/period: No such file or directory"))
        #expect(Self.read("\(dir)/pwmchip0/unexport") == "1")
    }

    @Test func chipsAreFoundByDeviceAndMistakesNamed() throws {
        let dir = Self.tree()
        defer { removeDirectory(dir) }
        #expect(LinuxPWM.all(sysfs: dir).map(\.label) == ["fe20c000.pwm (pwmchip0, 2 channels)", "1f00098000.pwm (pwmchip2, 4 channels)"])
        #expect(try LinuxPWM.find("1f00098000.pwm", role: "fan", sysfs: dir).get().path == "\(dir)/pwmchip2")
        let missing = "\(LinuxPWM.find("7e20c000.pwm", role: "fan", sysfs: dir).failure!)"
        #expect(missing == "role 'fan': no PWM chip '7e20c000.pwm' on this machine (it has: fe20c000.pwm (pwmchip0, 2 channels), 1f00098000.pwm (pwmchip2, 4 channels))")
        let none = "\(LinuxPWM.find("x", role: "fan", sysfs: "/nonexistent").failure!)"
        #expect(none == "role 'fan': no PWM chip 'x' on this machine (none at all: on a Pi enable one with dtoverlay=pwm-2chan)")
        let text = try kernelTest { () async throws -> String in
            do {
                _ = try LinuxPWM(role: "fan", spec: PWMSpec(chip: "fe20c000.pwm", channel: 2, frequencyHz: 50), sysfs: dir)
                return "made"
            } catch { return "\(error)" }
        }
        #expect(text == "role 'fan': PWM chip 'fe20c000.pwm' has 2 channels, no channel 2")
        #expect("\(BoardError.pwmDuty(role: "fan", value: -0.1))" == "role 'fan': duty -0.1 is out of range (expected 0 to 1)")
    }
}
