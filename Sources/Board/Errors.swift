import Glibc

/// What went wrong with a device, a line or a connection, naming it.
public enum BoardError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The firmware asked for a role the board file does not declare.
    case roleNotDeclared(role: String, file: String)
    /// The role exists but is another kind (e.g. `set` on an input).
    case wrongRoleType(role: String, file: String, declared: String, wanted: String)
    case chipNotFound(label: String, role: String)
    case lineNotFound(name: String, chip: String?, role: String)
    case ambiguousLine(name: String, chips: [String], role: String)
    case noGPIOChips(line: String, role: String)
    case offsetOutOfRange(chip: String, offset: Int, lines: Int, role: String)
    case lineBusy(line: String, consumer: String, role: String)
    case deviceAbsent(path: String, role: String)
    case permissionDenied(path: String, group: String?, role: String)
    case deviceBusy(path: String, role: String)
    /// The device was open and went away (unplugged); `SerialPort.reopen()` takes it again.
    case deviceGone(path: String, role: String)
    case unsupportedSpeed(path: String, baud: Int)
    /// The driver kept other settings than asked (read back with tcgetattr).
    case unsupportedSettings(path: String, wanted: String, got: String)
    case connectFailed(endpoint: String, reason: String)
    case connectTimedOut(endpoint: String, milliseconds: Int)
    case connectionReset(endpoint: String)
    case closed(what: String)
    /// A value role's file: none or several match its path, or it does not hold a number.
    case valueFile(path: String, role: String, problem: String)
    case system(call: String, errno: Int32, what: String)
    /// An I2C role's bus is not there (`available`: the adapters this machine has).
    case i2cBusNotFound(bus: String, role: String, available: [String])
    /// The adapter cannot do what the role's driver needs.
    case i2cUnsupported(bus: String, missing: String, role: String)
    /// Nothing acknowledged the address (NACK: ENXIO, EREMOTEIO).
    case i2cNoAnswer(bus: String, address: Int, role: String)
    /// A bus error, an arbitration loss or a timeout (EIO, EAGAIN, ETIMEDOUT…).
    case i2cTransfer(bus: String, address: Int, role: String, errno: Int32)
    /// The device answered with something it cannot mean (a chip id that is not the driver's).
    case i2cDevice(bus: String, address: Int, role: String, problem: String)
    /// A PWM role's chip is not there (`available`: the chips this machine has, by device).
    case pwmChipNotFound(chip: String, role: String, available: [String])
    case pwmChannel(chip: String, channel: Int, channels: Int, role: String)
    /// A duty cycle outside 0...1.
    case pwmDuty(role: String, value: Double)

    public var description: String {
        switch self {
        case .valueFile(let p, let r, let why): return "role '\(r)': \(p): \(why)"
        case .roleNotDeclared(let r, let f): return "\(f): role '\(r)' is not declared on this board"
        case .wrongRoleType(let r, let f, let d, let w): return "\(f): role '\(r)' is declared as \(d), not \(w)"
        case .chipNotFound(let l, let r): return "role '\(r)': no GPIO chip labelled '\(l)' on this machine"
        case .lineNotFound(let n, let c, let r):
            return "role '\(r)': no GPIO line named '\(n)'" + (c.map { " on chip '\($0)'" } ?? " on any chip")
        case .ambiguousLine(let n, let cs, let r):
            return "role '\(r)': a line named '\(n)' is on several chips (\(cs.joined(separator: ", "))): give the chip label in the board file"
        case .noGPIOChips(let l, let r): return "role '\(r)': line \(l) not found: this machine has no GPIO chips (no /dev/gpiochip*)"
        case .offsetOutOfRange(let c, let o, let n, let r): return "role '\(r)': chip '\(c)' has \(n) lines, no offset \(o)"
        case .lineBusy(let l, let c, let r): return "role '\(r)': line '\(l)' is in use by '\(c)'"
        case .deviceAbsent(let p, let r): return "role '\(r)': serial device \(p) does not exist"
        case .permissionDenied(let p, let g, let r):
            return "role '\(r)': permission denied opening \(p)" + (g.map { " (add your user to the '\($0)' group)" } ?? "")
        case .deviceBusy(let p, let r): return "role '\(r)': serial device \(p) is busy (opened exclusively by another program)"
        case .deviceGone(let p, let r): return "role '\(r)': serial device \(p) went away and is not open again yet"
        case .unsupportedSpeed(let p, let b): return "\(p): speed \(b) baud is not supported"
        case .unsupportedSettings(let p, let w, let g): return "\(p): the device does not take \(w) (its driver kept \(g))"
        case .connectFailed(let e, let why): return "connect to \(e) failed: \(why)"
        case .connectTimedOut(let e, let ms): return "connect to \(e) timed out after \(ms) ms"
        case .connectionReset(let e): return "connection to \(e) was reset"
        case .closed(let w): return "\(w) is closed"
        case .system(let call, let e, let w): return "\(call) failed for \(w): \(String(cString: strerror(e))) (errno \(e))"
        case .i2cBusNotFound(let b, let r, let a):
            return "role '\(r)': no I2C bus \(b) on this machine (" + (a.isEmpty ? "none at all: enable one, on a Pi with dtparam=i2c_arm=on, and load i2c-dev" : "it has: " + a.joined(separator: ", ")) + ")"
        case .i2cUnsupported(let b, let m, let r): return "role '\(r)': the I2C adapter of \(b) cannot do \(m)"
        case .i2cNoAnswer(let b, let a, let r):
            return "role '\(r)': no answer from \(I2CSpec.hex(a)) on \(b) (check wiring, power and the address)"
        case .i2cTransfer(let b, let a, let r, let e):
            return "role '\(r)': I2C transfer to \(I2CSpec.hex(a)) on \(b) failed: \(String(cString: strerror(e))) (errno \(e))"
        case .i2cDevice(let b, let a, let r, let why): return "role '\(r)': \(I2CSpec.hex(a)) on \(b): \(why)"
        case .pwmChipNotFound(let c, let r, let a):
            return "role '\(r)': no PWM chip '\(c)' on this machine (" + (a.isEmpty ? "none at all: on a Pi enable one with dtoverlay=pwm-2chan" : "it has: " + a.joined(separator: ", ")) + ")"
        case .pwmChannel(let c, let ch, let n, let r): return "role '\(r)': PWM chip '\(c)' has \(n) channels, no channel \(ch)"
        case .pwmDuty(let r, let v): return "role '\(r)': duty \(v) is out of range (expected 0 to 1)"
        }
    }
}
