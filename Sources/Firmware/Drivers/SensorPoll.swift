import Board
import Kernel

/// What every sensor driver shares (a BME280, an ADS1115, yours): a measurement on a
/// drift-free schedule (the role's `"interval"`), the chip set up again after any failure (a
/// device that lost power lost its settings), and the role's fault while it fails — raised
/// with the error's text (in the snapshot's `faults`, the status LED and line, the log),
/// retried after 1 s, 2 s, 4 s … up to a minute, cleared when it answers again. While it
/// fails its reading is nil (a snapshot shows null, never a stale value as if it were new).
///
/// A driver gives `run` two closures: `setUp` (check the chip id, read calibration) and
/// `measure` (one reading). Both run on the kernel thread and await the bus's transfers,
/// which run off it.
@KernelActor
public final class SensorPoll<Reading: Sendable> {
    public let role: String
    public let interval: Int64
    /// The last good reading; nil before the first and while the device fails.
    public private(set) var reading: Reading?
    /// The last failure's text while it lasts.
    public private(set) var error: String?
    public private(set) var readings = 0
    public private(set) var failures = 0
    private var isSetUp = false

    /// First retry after a failure, then doubled up to `maxBackoff`.
    public nonisolated static var firstBackoff: Int64 { 1_000_000_000 }
    public nonisolated static var maxBackoff: Int64 { 60_000_000_000 }

    public init(role: String, interval: Int64) {
        self.role = role
        self.interval = interval
    }

    /// Measures until cancelled.
    public func run(on device: Device, setUp: () async throws -> Void, measure: () async throws -> Reading) async throws {
        var backoff = Self.firstBackoff
        var next = Kernel.now
        while true {
            do {
                if !isSetUp {
                    try await setUp()
                    isSetUp = true
                }
                reading = try await measure()
                readings += 1
                if error != nil {
                    error = nil
                    device.setFault(role, nil)
                }
                backoff = Self.firstBackoff
                next += interval
                if next <= Kernel.now { next = Kernel.now + interval }   // late by a period or more: skip, never burst
                try await sleep(until: next, tolerance: Kernel.coarseTolerance)
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                failures += 1
                reading = nil
                isSetUp = false
                self.error = "\(error)"
                device.setFault(role, self.error)
                try await sleep(until: Kernel.now + backoff, tolerance: Kernel.coarseTolerance)
                backoff = min(backoff * 2, Self.maxBackoff)
                next = Kernel.now
            }
        }
    }
}

/// A driver that measures on a `SensorPoll`: what a simulation's summary and a test read.
@KernelActor
public protocol SensorDriver: Component {
    var role: String { get }
    /// Good readings, and failed attempts, so far.
    var readings: Int { get }
    var failures: Int { get }
}

/// A driver's board-file keys: its role's object, read with the board file's own problems
/// (each names the file, the key and its line), unknown keys rejected.
@KernelActor
public struct DriverOptions {
    /// The role's I2C declaration (bus, address, interval).
    public let spec: I2CSpec
    public let object: JSON
    /// "roles.climate": where its keys are, for messages.
    public let path: String
    public var problems: Problems

    /// The I2C role `role` of `board` (`roleNotDeclared`, `wrongRoleType` otherwise);
    /// `known`: the driver's own keys (the common ones, `I2CSpec.commonKeys`, are added).
    public init(_ role: String, of board: BoardDescription, known: Set<String>) throws {
        guard let r = board.role(role) else { throw BoardError.roleNotDeclared(role: role, file: board.file) }
        guard let spec = r.i2c else {
            throw BoardError.wrongRoleType(role: role, file: board.file, declared: r.kind.rawValue, wanted: RoleKind.i2c.rawValue)
        }
        self.spec = spec
        object = spec.object
        path = "roles.\(role)"
        problems = Problems(file: board.file)
        problems.rejectUnknown(object, at: path, known: known.union(I2CSpec.commonKeys))
    }

    /// Throws every problem at once.
    public func check() throws { try problems.check() }
}

extension I2CDevice {
    /// `count` registers from `first` on: one SMBus I2C block read where the adapter can do it
    /// (up to 32 at a time), byte by byte where it cannot.
    public func readRegisters(_ first: UInt8, count: Int) async throws -> [UInt8] {
        var out: [UInt8] = []
        if functions.contains(.readI2CBlock) {
            while out.count < count {
                let n = min(32, count - out.count)
                out += try await readBlock(first &+ UInt8(out.count), count: n)
            }
        } else {
            for i in 0..<count { out.append(try await readByteData(first &+ UInt8(i))) }
        }
        return out
    }
}
