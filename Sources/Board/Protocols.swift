import Kernel

// The devices a firmware sees (embedded-hal 1.0 in spirit): small, typed, throwing errors that
// name the role, line or device. Every wait goes through the kernel; all of them are
// @KernelActor, so between two awaits a task owns them and the compiler proves it.
//
// A board (LinuxBoard on hardware, SimBoard in simulation) hands them out by role name from its
// board file; the firmware never knows which board it runs on.

/// A GPIO output (values are logical: active-low is applied by the board).
@KernelActor
public protocol OutputLine: AnyObject {
    var role: String { get }
    func set(_ value: Bool) throws
    func get() throws -> Bool
}

public enum EdgeKind: String, Sendable {
    case rising, falling, both
    func matches(_ rising: Bool) -> Bool { self == .both || (self == .rising) == rising }
}

/// One edge of an input line (logical: a press of an active-low button is `rising`).
public struct EdgeEvent: Sendable, Equatable {
    public var rising: Bool
    /// Kernel time (ns) of the first raw edge of the change (before debouncing).
    public var time: Int64
    public init(rising: Bool, time: Int64) {
        self.rising = rising
        self.time = time
    }
}

/// A GPIO input with debounced edge waits.
@KernelActor
public protocol InputLine: AnyObject {
    var role: String { get }
    func get() throws -> Bool
    /// Waits for the next debounced edge of `kind`.
    func edge(_ kind: EdgeKind) async throws -> EdgeEvent
}

/// A serial port opened with its settings.
@KernelActor
public protocol SerialPort: AnyObject {
    var role: String { get }
    var path: String { get }
    var settings: SerialSettings { get }
    /// Waits until bytes are there, then copies up to `buffer.count` of them; returns how many
    /// (0 only for an empty buffer). The caller owns the buffer and reuses it.
    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int
    /// Queues all of `bytes` for sending, waiting while the output buffer is full.
    func write(_ bytes: [UInt8]) async throws
    /// Waits until everything written has left the wire.
    func drain() async throws
    /// Opens the device again after it went away (a USB adapter unplugged and plugged back at
    /// the same path), with the same settings; throws as the first open did. A no-op while open.
    func reopen() throws
    /// Waits until `deadline` (kernel time), or less when the board can tell that the device
    /// may be back (a LinuxBoard watches the device's directory).
    func waitForDevice(until deadline: Int64) async throws
    func close()
}

extension SerialPort {
    public func waitForDevice(until deadline: Int64) async throws { try await sleep(until: deadline, tolerance: Kernel.coarseTolerance) }
}

/// A TCP-like byte stream.
@KernelActor
public protocol Connection: AnyObject {
    /// "host:port" as it was dialled.
    var endpoint: String { get }
    /// Waits for bytes; returns how many were copied, 0 when the peer closed its side.
    /// Throws `BoardError.connectionReset` when the connection broke.
    func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int
    /// Sends all of `bytes`, waiting while the send buffer is full.
    func write(_ bytes: [UInt8]) async throws
    func close()
}

@KernelActor
public protocol Network: AnyObject {
    /// Connects to `host:port` (a name, an IPv4 or an IPv6 address), giving up after `timeoutMilliseconds`.
    func connect(host: String, port: Int, timeoutMilliseconds: Int) async throws -> any Connection
}

/// Wall-clock time for timestamps (snapshots say when they were taken). The kernel's clock
/// (`Kernel.now`) is for waits; this one is for people.
@KernelActor
public protocol WallClock: AnyObject {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    func unixNanoseconds() -> Int64
}

/// A board: the devices its board file declares, by role (`Roles.swift` hands them out:
/// `output`, `input`, `serial`, `value`).
@KernelActor
public protocol Hardware: AnyObject {
    var description: BoardDescription { get }
    /// The device of `role` as its kind's protocol says (`RoleDevices.take`): each role once,
    /// until the board is closed.
    func take(_ role: String, as kind: RoleKind) throws -> AnyObject
    /// Whether `role` was handed out (`take`) and not released.
    func isTaken(_ role: String) -> Bool
    var network: any Network { get }
    var clock: any WallClock { get }
    /// The CPU's temperature in °C where the board has a sensor, nil where not. Async: some
    /// sensors sit behind I2C and take milliseconds to read.
    func cpuTemperature() async -> Double?
    /// Releases every line and port (also on errors, so the next start finds nothing busy).
    func close()
    /// Whether the kernel task `name` is the board's own (a simulated world's), not the
    /// firmware's: snapshots list only the firmware's tasks.
    func ownsTask(named name: String) -> Bool
}

extension Hardware {
    public func ownsTask(named name: String) -> Bool { false }
}
