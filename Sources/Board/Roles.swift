import Kernel

// The one role hand-out every board uses: a board makes the device of each role it declares
// when it is made (so a missing line or device fails at once, naming it), keeps them in a
// `RoleDevices`, and hands each out once, as its kind's protocol, until it is closed.

/// A number read from a sensor (a value role): a temperature, a voltage.
@KernelActor
public protocol ValueInput: AnyObject {
    var role: String { get }
    /// Reads it now (off the kernel thread where the read can block: a 1-Wire read takes
    /// most of a second).
    func read() async throws -> Double
}

/// The devices of a board's roles, by role name; each handed out once until `releaseAll`.
@KernelActor
public struct RoleDevices {
    public let description: BoardDescription
    private var devices: [String: AnyObject] = [:]
    private var taken = Set<String>()

    public init(_ description: BoardDescription) { self.description = description }

    public mutating func add(_ role: String, _ device: AnyObject) { devices[role] = device }

    /// Every device, for closing.
    public var all: [AnyObject] { Array(devices.values) }

    public func device(_ role: String) -> AnyObject? { devices[role] }

    /// The role's declaration: `roleNotDeclared` / `wrongRoleType` otherwise.
    public func declaration(_ role: String, as wanted: RoleKind) throws -> Role {
        guard let r = description.role(role) else { throw BoardError.roleNotDeclared(role: role, file: description.file) }
        guard r.kind == wanted else {
            throw BoardError.wrongRoleType(role: role, file: description.file, declared: r.kind.rawValue, wanted: wanted.rawValue)
        }
        return r
    }

    /// Hands out `role`'s device: a second take is "busy", naming the role (`deviceBusy` for
    /// a serial port, `lineBusy` for a GPIO line, `valueFile` for a value role).
    public mutating func take(_ role: String, as kind: RoleKind) throws -> AnyObject {
        let r = try declaration(role, as: kind)
        guard let d = devices[role] else { throw BoardError.roleNotDeclared(role: role, file: description.file) }
        guard taken.insert(role).inserted else {
            switch kind {
            case .serial: throw BoardError.deviceBusy(path: r.device ?? role, role: role)
            case .value: throw BoardError.valueFile(path: r.value?.path ?? role, role: role, problem: "already opened by this firmware")
            case .output, .input: throw BoardError.lineBusy(line: role, consumer: "firmloop (already opened)", role: role)
            case .i2c, .pwm: throw BoardError.valueFile(path: r.i2c?.label ?? r.pwm?.label ?? role, role: role, problem: "already opened by this firmware")
            }
        }
        return d
    }

    public func isTaken(_ role: String) -> Bool { taken.contains(role) }

    public mutating func releaseAll() { taken.removeAll() }
}

// The accessors by kind, the same on every board.
extension Hardware {
    public func output(_ role: String) throws -> any OutputLine { try take(role, as: .output) as! any OutputLine }

    /// Debounced in software on the kernel clock (`debounce_ms`), one mechanism for every board.
    public func input(_ role: String) throws -> any InputLine {
        let raw = try take(role, as: .input) as! any RawInput
        return try DebouncedInput(raw, debounceMilliseconds: description.role(role)?.line?.debounceMilliseconds ?? 0)
    }

    public func serial(_ role: String) throws -> any SerialPort { try take(role, as: .serial) as! any SerialPort }

    public func value(_ role: String) throws -> any ValueInput { try take(role, as: .value) as! any ValueInput }

    public func i2c(_ role: String) throws -> any I2CDevice { try take(role, as: .i2c) as! any I2CDevice }

    public func pwm(_ role: String) throws -> any PWMOutput { try take(role, as: .pwm) as! any PWMOutput }

}
