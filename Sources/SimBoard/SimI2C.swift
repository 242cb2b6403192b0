import Board
import Kernel

/// A chip on a simulated I2C bus: what it answers to each transfer. `now` is kernel time
/// since the world started (its readings follow seeded curves on it).
@KernelActor
public protocol SimI2CChip: AnyObject {
    func perform(_ transfer: I2CTransfer, now: Int64) throws(SimI2CChipError) -> [UInt8]
}

/// A transfer the chip cannot make sense of (the firmware's bug, not the bus's): the
/// simulated device NACKs it, as a real one would.
public struct SimI2CChipError: Error, Sendable {
    public let why: String
    public init(_ why: String) { self.why = why }
}

/// An I2C role in simulation: a chip (by the role's driver: `SimBME280`, `SimADS1115`; any
/// other a `SimRegisterFile`, like the kernel's i2c-stub) behind the SMBus transfers, every
/// transfer in the event log. `silence(until:)` makes it stop answering (a scenario's
/// "i2c_silent" step, the board file's `sim.i2c.<role>.silent` windows): each transfer then
/// fails as a NACK does on Linux.
@KernelActor
public final class SimI2CDevice: I2CDevice {
    public let role: String
    public let bus: String
    public let address: Int
    /// Every SMBus transfer and plain I2C: what Linux adapters on a Pi can do.
    public let functions: I2CFunctions = [.plainI2C, .quick, .readByte, .writeByte, .byteData, .wordData, .i2cBlock]
    public let chip: any SimI2CChip
    private let log: EventLog
    private let origin: Int64
    /// Windows (kernel time since the world started) in which it does not answer.
    private var silent: [(from: Int64, until: Int64)]
    public private(set) var transfers = 0

    init(role: String, spec: I2CSpec, chip: any SimI2CChip, silent: [(Int64, Int64)], log: EventLog, origin: Int64) {
        self.role = role
        bus = spec.bus
        address = spec.address
        self.chip = chip
        self.silent = silent
        self.log = log
        self.origin = origin
    }

    /// Stops answering from now until `deadline` (kernel time).
    public func silence(until deadline: Int64) { silent.append((Kernel.now - origin, deadline - origin)) }

    public var isSilent: Bool {
        let t = Kernel.now - origin
        return silent.contains { t >= $0.from && t < $0.until }
    }

    public func perform(_ transfer: I2CTransfer) async throws -> [UInt8] {
        guard functions.contains(transfer.function) else {
            throw BoardError.i2cUnsupported(bus: bus, missing: transfer.function.description, role: role)
        }
        transfers += 1
        if isSilent {
            log.record(.i2cSilent, role)
            throw BoardError.i2cNoAnswer(bus: bus, address: address, role: role)
        }
        do {
            let out = try chip.perform(transfer, now: Kernel.now - origin)
            log.record(.i2cTransfer, role, value: Self.register(transfer), bytes: out.isEmpty ? Self.written(transfer) : out)
            return out
        } catch {
            log.record(.i2cSilent, role, value: Self.register(transfer))
            throw BoardError.i2cNoAnswer(bus: bus, address: address, role: role)
        }
    }

    static func register(_ t: I2CTransfer) -> Int64 {
        switch t {
        case .readByteData(let r), .writeByteData(let r, _), .readWordData(let r), .writeWordData(let r, _), .readBlock(let r, _),
             .writeBlock(let r, _): Int64(r)
        case .readByte, .writeByte, .writeRead: -1
        }
    }

    static func written(_ t: I2CTransfer) -> [UInt8] {
        switch t {
        case .writeByte(let b): [b]
        case .writeByteData(_, let v): [v]
        case .writeWordData(_, let v): [UInt8(v & 0xFF), UInt8(v >> 8)]
        case .writeBlock(_, let b), .writeRead(let b, _): b
        default: []
        }
    }
}

/// 256 byte registers behind a register pointer that each transfer sets and block transfers
/// advance (a 24C02 EEPROM, the kernel's i2c-stub in byte mode, most sensors' register maps).
/// `written` is called after each register write (a sensor's model reacts to its control
/// registers there).
@KernelActor
public final class SimRegisterFile: SimI2CChip {
    public var registers = [UInt8](repeating: 0, count: 256)
    private var pointer: UInt8 = 0
    public var written: (UInt8, UInt8, Int64) -> Void = { _, _, _ in }
    /// Registers a write must not change (a chip id).
    public var readOnly = Set<UInt8>()

    public init() {}

    public func perform(_ t: I2CTransfer, now: Int64) throws(SimI2CChipError) -> [UInt8] {
        switch t {
        case .readByte:
            defer { pointer &+= 1 }
            return [registers[Int(pointer)]]
        case .writeByte(let r): pointer = r; return []
        case .readByteData(let r): return read(r, 1)
        case .writeByteData(let r, let v): write(r, [v], now); return []
        case .readWordData(let r): return read(r, 2)
        case .writeWordData(let r, let v): write(r, [UInt8(v & 0xFF), UInt8(v >> 8)], now); return []
        case .readBlock(let r, let n): return read(r, min(max(n, 1), 32))
        case .writeBlock(let r, let b): write(r, b, now); return []
        case .writeRead(let w, let n):
            guard let r = w.first else { throw SimI2CChipError("a combined transfer with no register") }
            if w.count > 1 { write(r, Array(w.dropFirst()), now) }
            return read(r, n)
        }
    }

    private func read(_ r: UInt8, _ n: Int) -> [UInt8] {
        pointer = r
        var out: [UInt8] = []
        for _ in 0..<n { out.append(registers[Int(pointer)]); pointer &+= 1 }
        return out
    }

    private func write(_ r: UInt8, _ bytes: [UInt8], _ now: Int64) {
        pointer = r
        for b in bytes {
            let reg = pointer
            if !readOnly.contains(reg) { registers[Int(reg)] = b }
            pointer &+= 1
            written(reg, b, now)
        }
    }
}
