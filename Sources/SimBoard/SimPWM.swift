import Board
import Kernel

/// A PWM output in simulation: its duty as the firmware sets it, each change in the event log
/// (and so in the run's digest) as nanoseconds of the period.
@KernelActor
public final class SimPWM: PWMOutput {
    public let role: String
    public let periodNanoseconds: Int64
    public private(set) var duty: Double
    /// Set at every change (scenarios wait on it).
    public let changed = Notify()
    private let log: EventLog

    init(role: String, spec: PWMSpec, log: EventLog) {
        self.role = role
        periodNanoseconds = spec.periodNanoseconds
        duty = spec.initial
        self.log = log
        log.record(.pwmDuty, role, value: Int64((Double(periodNanoseconds) * spec.initial).rounded()))
    }

    public func set(duty value: Double) throws {
        let ns = try dutyNanoseconds(value)
        duty = value
        log.record(.pwmDuty, role, value: ns)
        changed.notifyAll()
    }
}
