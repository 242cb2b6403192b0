import Kernel

/// A PWM output (a PWM role): its period fixed by the board file, its duty cycle set from 0
/// (off) to 1 (always on). Setting it is a write to sysfs on Linux (microseconds, on the
/// kernel thread like a GPIO line's ioctl). Released (disabled, unexported) by the board's
/// `close()`.
@KernelActor
public protocol PWMOutput: AnyObject {
    var role: String { get }
    var periodNanoseconds: Int64 { get }
    /// The duty cycle now, 0...1.
    var duty: Double { get }
    /// Sets the duty cycle; `BoardError.pwmDuty` outside 0...1 (and nothing changes).
    func set(duty: Double) throws
}

extension PWMOutput {
    /// The duty `value` as nanoseconds of `periodNanoseconds`, or `pwmDuty` naming the role.
    public func dutyNanoseconds(_ value: Double) throws -> Int64 {
        guard value.isFinite, value >= 0, value <= 1 else { throw BoardError.pwmDuty(role: role, value: value) }
        return Int64((Double(periodNanoseconds) * value).rounded())
    }
}
