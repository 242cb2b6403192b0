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
        }
    }
}
