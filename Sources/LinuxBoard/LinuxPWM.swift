import Board
import Glibc
import Kernel

/// A PWM role on Linux, through sysfs (`/sys/class/pwm/pwmchipN`): the chip found by its
/// device (`pwmchipN/device` links to "fe20c000.pwm" on a Pi 4, "1f00098000.pwm" on a Pi 5,
/// whatever N the kernel gave it), the channel exported, its period, polarity and initial
/// duty written, then enabled. `release()` (the board's `close()`, on every exit path)
/// disables and unexports it, so the pin stops driving and the next start finds it free.
///
/// A write is a register write in the SoC's PWM block (microseconds), made on the kernel
/// thread like a GPIO line's ioctl.
@KernelActor
public final class LinuxPWM: PWMOutput {
    public let role: String
    public let periodNanoseconds: Int64
    public private(set) var duty: Double
    /// `…/pwmchipN`, and its channel's directory `…/pwmchipN/pwmM`.
    public let chip: String
    public let channel: String
    private let spec: PWMSpec
    private var exported = false

    init(role: String, spec: PWMSpec, sysfs: String = LinuxPWM.chips) throws {
        self.role = role
        self.spec = spec
        periodNanoseconds = spec.periodNanoseconds
        duty = spec.initial
        let found = try Self.find(spec.chip, role: role, sysfs: sysfs).get()
        chip = found.path
        guard spec.channel < found.channels else {
            throw BoardError.pwmChannel(chip: spec.chip, channel: spec.channel, channels: found.channels, role: role)
        }
        channel = "\(chip)/pwm\(spec.channel)"
        // Exported already: by a run that was killed before it could release it.
        if access(channel, F_OK) != 0 {
            try write("export", "\(spec.channel)", in: chip)
            exported = true
            // udev gives the new channel's files to the gpio group a moment after the export
            // (deploy/60-firmloop-gpiochip.rules): wait up to a second for them, once, as the
            // board is made, before any task runs.
            var ts = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            let period = "\(channel)/period"
            for _ in 0..<100 where access(period, F_OK) == 0 && access(period, W_OK) != 0 { nanosleep(&ts, nil) }
        }
        do {
            let ns = try dutyNanoseconds(spec.initial)
            // The kernel takes a state only with a period above 0 and duty ≤ period: a fresh
            // channel (period 0) takes its period first; one left enabled is disabled first,
            // and a duty over the new period goes to 0 before the period changes.
            if read("enable") == 1 { try write("enable", "0") }
            if (read("duty_cycle") ?? 0) > periodNanoseconds { try write("duty_cycle", "0") }
            try write("period", "\(periodNanoseconds)")
            // A chip without polarity control may refuse even "normal", which it already is.
            do { try write("polarity", spec.inverted ? "inversed" : "normal") } catch where !spec.inverted {}
            try write("duty_cycle", "\(ns)")
            try write("enable", "1")
            exported = true
        } catch {
            release()
            throw error
        }
    }

    /// `/sys/class/pwm`.
    public nonisolated static let chips = "/sys/class/pwm"

    public func set(duty value: Double) throws {
        let ns = try dutyNanoseconds(value)
        try write("duty_cycle", "\(ns)")
        duty = value
    }

    /// Disables and unexports the channel (errors ignored: this is the way out).
    public func release() {
        guard exported else { return }
        exported = false
        try? write("enable", "0")
        try? write("unexport", "\(spec.channel)", in: chip)
    }

    /// The number in the channel's attribute, nil where it cannot be read.
    private func read(_ attribute: String) -> Int64? {
        readTextFile("\(channel)/\(attribute)", limit: 64)?.split(separator: "\n").first.flatMap { Int64($0) }
    }

    /// Writes `value` to the channel's attribute (or `dir`'s), naming the role and the file.
    private func write(_ attribute: String, _ value: String, in dir: String? = nil) throws {
        let path = "\(dir ?? channel)/\(attribute)"
        let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open", errno, path: path, role: role) }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard n == bytes.count else { throw Self.failure("write \(value) to", n < 0 ? errno : EIO, path: path, role: role) }
    }

    nonisolated static func failure(_ what: String, _ e: Int32, path: String, role: String) -> BoardError {
        if e == EACCES || e == EPERM { return LinuxSerialPort.openError(e, path: path, role: role) }
        return .system(call: what, errno: e, what: "role '\(role)': \(path)")
    }

    // MARK: finding a chip

    public struct Chip: Sendable, Equatable {
        /// `/sys/class/pwm/pwmchipN`.
        public var path: String
        /// What `device` links to ("fe20c000.pwm").
        public var device: String
        public var channels: Int
        /// "fe20c000.pwm (pwmchip0, 2 channels)".
        public var label: String { "\(device) (\(path.split(separator: "/").last ?? ""), \(channels) channels)" }
    }

    /// Every chip sysfs lists.
    public nonisolated static func all(sysfs: String = chips) -> [Chip] {
        directoryEntries(sysfs).filter { $0.hasPrefix("pwmchip") }.map { e in
            let path = "\(sysfs)/\(e)"
            let n = readTextFile("\(path)/npwm", limit: 32)?.split(separator: "\n").first.flatMap { Int($0) } ?? 0
            return Chip(path: path, device: linkName("\(path)/device") ?? e, channels: n)
        }.sorted { $0.path < $1.path }
    }

    /// The chip whose device (or `pwmchipN` name) is `name`.
    public nonisolated static func find(_ name: String, role: String, sysfs: String = chips) -> Result<Chip, BoardError> {
        let all = all(sysfs: sysfs)
        if let c = all.first(where: { $0.device == name || $0.path.hasSuffix("/" + name) }) { return .success(c) }
        return .failure(.pwmChipNotFound(chip: name, role: role, available: all.map(\.label)))
    }

    /// The last component of the path a symlink points to.
    nonisolated static func linkName(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        let target = String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return target.split(separator: "/").last.map(String.init)
    }
}
