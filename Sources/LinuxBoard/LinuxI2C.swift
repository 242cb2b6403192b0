import Board
import CSystem
import Glibc
import Kernel

/// An I2C role on Linux, through i2c-dev (`/dev/i2c-N`).
///
/// Each transfer opens the bus, sets the address (`I2C_SLAVE`), does the one ioctl and closes
/// it again, all on an offload worker: a transfer blocks in the kernel for 0.1 to 1 ms at
/// 100 kHz (longer when a device stretches the clock), far over a task's budget, and an open
/// file would pin the adapter (its module cannot be unloaded, a USB adapter's removal waits
/// for it). The three extra system calls cost microseconds against the transfer's hundreds.
/// A bus named by its adapter's name is found again after it was renumbered.
///
/// The bus, its functions and the address are checked when the board is made (so a start
/// fails at once, naming them); a device that does not answer is an error of the transfer,
/// which its driver turns into a fault of the role.
@KernelActor
public final class LinuxI2C: I2CDevice {
    public let role: String
    public private(set) var bus: String
    public let address: Int
    public let functions: I2CFunctions
    private let spec: I2CSpec
    /// Where adapters are listed (tests give a fake tree).
    private let sysfs: String

    init(role: String, spec: I2CSpec, sysfs: String = LinuxI2C.adapters) throws {
        self.role = role
        self.spec = spec
        self.sysfs = sysfs
        address = spec.address
        let path = try Self.resolve(spec.bus, role: role, sysfs: sysfs).get()
        bus = path
        let fd = try Self.open(path, role: role).get()
        defer { Glibc.close(fd) }
        var funcs: UInt = 0
        let r = fl_i2c_funcs(fd, &funcs)
        guard r == 0 else { throw BoardError.system(call: "ioctl(I2C_FUNCS)", errno: -r, what: path) }
        functions = I2CFunctions(rawValue: funcs)
        guard functions.contains(.readByteData) || functions.contains(.plainI2C) else {
            throw BoardError.i2cUnsupported(bus: path, missing: I2CFunctions.readByteData.description, role: role)
        }
        if case .failure(let e) = Self.select(fd, address: spec.address, bus: path, role: role) { throw e }
    }

    /// `/sys/bus/i2c/devices`: one `i2c-N` per adapter, each with its `name` (beside the
    /// devices, `N-00AA`), on every kernel with I2C (`/sys/class/i2c-adapter` needs
    /// CONFIG_I2C_COMPAT).
    public nonisolated static let adapters = "/sys/bus/i2c/devices"

    public func perform(_ transfer: I2CTransfer) async throws -> [UInt8] {
        guard functions.contains(transfer.function) else {
            throw BoardError.i2cUnsupported(bus: bus, missing: transfer.function.description, role: role)
        }
        let (path, name, address, role, sysfs) = (bus, spec.bus, self.address, self.role, self.sysfs)
        let (found, result) = try await offload { () -> (String, Result<[UInt8], BoardError>) in
            var path = path
            var opened = Self.open(path, role: role)
            // An adapter named in the board file may have come back under another number, or
            // be gone (its module unloaded, a USB adapter unplugged): the error says which.
            if case .failure = opened, !name.hasPrefix("/") {
                switch Self.resolve(name, role: role, sysfs: sysfs) {
                case .success(let again):
                    path = again
                    opened = Self.open(path, role: role)
                case .failure(let e): return (path, .failure(e))
                }
            }
            let fd: Int32
            switch opened {
            case .success(let f): fd = f
            case .failure(let e): return (path, .failure(e))
            }
            defer { Glibc.close(fd) }
            if case .failure(let e) = Self.select(fd, address: address, bus: path, role: role) { return (path, .failure(e)) }
            return (path, Self.transfer(fd, transfer, address: address, bus: path, role: role))
        }
        bus = found
        return try result.get()
    }

    // MARK: on the worker: the system calls

    /// Opens `path` read-write, or why not, naming the role.
    nonisolated static func open(_ path: String, role: String) -> Result<Int32, BoardError> {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        if fd >= 0 { return .success(fd) }
        let e = errno
        switch e {
        case ENOENT, ENODEV, ENXIO: return .failure(.i2cBusNotFound(bus: path, role: role, available: []))
        case EACCES, EPERM: return .failure(LinuxSerialPort.openError(e, path: path, role: role))
        default: return .failure(.system(call: "open", errno: e, what: path))
        }
    }

    /// `I2C_SLAVE`: later transfers on `fd` go to `address`. EBUSY: a kernel driver has bound
    /// it (its name said, from sysfs), and a driver's device is not ours to talk to.
    nonisolated static func select(_ fd: Int32, address: Int, bus: String, role: String) -> Result<Void, BoardError> {
        let r = fl_i2c_set_address(fd, Int32(address), 0)
        if r == 0 { return .success(()) }
        if -r == EBUSY {
            let n = bus.split(separator: "-").last.map(String.init) ?? "?"
            let h = String(address, radix: 16)
            let bound = readTextFile("/sys/bus/i2c/devices/\(n)-\(String(repeating: "0", count: 4 - h.count) + h)/name", limit: 64)?
                .split(separator: "\n").first.map(String.init)
            return .failure(.i2cDevice(bus: bus, address: address, role: role,
                                       problem: "in use by the kernel's \(bound ?? "own") driver (remove its dtoverlay, or unbind it, to read it here)"))
        }
        return .failure(.system(call: "ioctl(I2C_SLAVE)", errno: -r, what: "\(I2CSpec.hex(address)) on \(bus)"))
    }

    /// One `I2C_SMBUS` ioctl's arguments: i2c_smbus_ioctl_data's read_write, command and size,
    /// and the 34-byte data union (a block's length first).
    struct SMBusCall: Equatable {
        var read: Bool
        var command: UInt8
        /// I2C_SMBUS_BYTE 1, BYTE_DATA 2, WORD_DATA 3, I2C_BLOCK_DATA 8.
        var size: Int32
        var data = [UInt8](repeating: 0, count: 34)

        /// The call for `t`; nil for a combined write-read (I2C_RDWR, not SMBus).
        init?(_ t: I2CTransfer) {
            switch t {
            case .readByte: (read, command, size) = (true, 0, 1)
            case .writeByte(let b): (read, command, size) = (false, b, 1)
            case .readByteData(let r): (read, command, size) = (true, r, 2)
            case .writeByteData(let r, let v): (read, command, size) = (false, r, 2); data[0] = v
            case .readWordData(let r): (read, command, size) = (true, r, 3)
            case .writeWordData(let r, let v):
                (read, command, size) = (false, r, 3)
                data[0] = UInt8(v & 0xFF)
                data[1] = UInt8(v >> 8)
            case .readBlock(let r, let count):
                (read, command, size) = (true, r, 8)
                data[0] = UInt8(min(max(count, 1), 32))
            case .writeBlock(let r, let bytes):
                (read, command, size) = (false, r, 8)
                data[0] = UInt8(min(bytes.count, 32))
                for (i, b) in bytes.prefix(32).enumerated() { data[i + 1] = b }
            case .writeRead: return nil
            }
        }

        /// What a read returned, from the data union the kernel filled in.
        func result(_ filled: [UInt8]) -> [UInt8] {
            guard read else { return [] }
            switch size {
            case 1, 2: return [filled[0]]
            case 3: return [filled[0], filled[1]]
            default: return Array(filled[1..<(1 + min(Int(filled[0]), 32))])
            }
        }
    }

    /// One transfer on an open, addressed bus.
    nonisolated static func transfer(_ fd: Int32, _ t: I2CTransfer, address: Int, bus: String, role: String) -> Result<[UInt8], BoardError> {
        guard var call = SMBusCall(t) else {
            guard case .writeRead(let bytes, let count) = t else { return .success([]) }
            var rbuf = [UInt8](repeating: 0, count: min(max(count, 0), 256))
            let r = bytes.withUnsafeBufferPointer { w in
                rbuf.withUnsafeMutableBufferPointer { rb in
                    fl_i2c_write_read(fd, Int32(address), w.baseAddress, UInt16(w.count), rb.baseAddress, UInt16(rb.count))
                }
            }
            return r == 0 ? .success(rbuf) : .failure(failure(-r, address: address, bus: bus, role: role))
        }
        let r = fl_i2c_smbus(fd, call.read ? 1 : 0, call.command, call.size, &call.data)
        guard r == 0 else { return .failure(failure(-r, address: address, bus: bus, role: role)) }
        return .success(call.result(call.data))
    }

    /// A NACK (nothing at the address: ENXIO, EREMOTEIO; ENODEV from i2c-stub) is "no
    /// answer"; anything else (EIO, ETIMEDOUT, EAGAIN: a bus error, a held line, a lost
    /// arbitration) a failed transfer.
    nonisolated static func failure(_ e: Int32, address: Int, bus: String, role: String) -> BoardError {
        switch e {
        case ENXIO, EREMOTEIO, ENODEV: .i2cNoAnswer(bus: bus, address: address, role: role)
        default: .i2cTransfer(bus: bus, address: address, role: role, errno: e)
        }
    }

    // MARK: probing (`firmloop probe`, on the calling thread)

    /// What an address said to a read-only probe.
    public enum ProbeAnswer: Sendable, Equatable {
        case answered, silent
        /// A kernel driver has bound it (i2cdetect's "UU"): not probed.
        case claimed
    }

    /// Probes every address 0x03…0x77 of `path` the way `i2cdetect -r` does: an SMBus
    /// receive byte (a read byte data of register 0 where the adapter lacks it), never a write.
    public nonisolated static func scan(_ path: String) -> Result<[(address: Int, answer: ProbeAnswer)], BoardError> {
        let fd: Int32
        switch open(path, role: "probe") {
        case .success(let f): fd = f
        case .failure(let e): return .failure(e)
        }
        defer { Glibc.close(fd) }
        var funcs: UInt = 0
        _ = fl_i2c_funcs(fd, &funcs)
        let f = I2CFunctions(rawValue: funcs)
        let read: I2CTransfer = f.contains(.readByte) ? .readByte : .readByteData(register: 0)
        guard f.contains(read.function) else { return .failure(.i2cUnsupported(bus: path, missing: read.function.description, role: "probe")) }
        return .success((0x03...0x77).compactMap { a in
            let r = fl_i2c_set_address(fd, Int32(a), 0)
            if -r == EBUSY { return (a, .claimed) }
            guard r == 0 else { return nil }
            if case .success = transfer(fd, read, address: a, bus: path, role: "probe") { return (a, .answered) }
            return (a, .silent)
        })
    }

    /// Whether the device of `spec` answers a read-only probe now (`firmloop probe`'s check
    /// of a role), and on which bus.
    public nonisolated static func check(_ spec: I2CSpec, role: String) -> Result<String, BoardError> {
        Result { () throws(BoardError) in
            let path = try resolve(spec.bus, role: role).get()
            let fd = try open(path, role: role).get()
            defer { Glibc.close(fd) }
            try select(fd, address: spec.address, bus: path, role: role).get()
            var funcs: UInt = 0
            _ = fl_i2c_funcs(fd, &funcs)
            let read: I2CTransfer = I2CFunctions(rawValue: funcs).contains(.readByte) ? .readByte : .readByteData(register: 0)
            _ = try transfer(fd, read, address: spec.address, bus: path, role: role).get()
            return path
        }
    }

    // MARK: finding a bus

    /// An adapter: its device, number and name.
    public struct Adapter: Sendable, Equatable {
        public var path: String
        public var number: Int
        public var name: String
        /// "/dev/i2c-1 (bcm2835 (i2c@7e804000))".
        public var label: String { "\(path) (\(name))" }
    }

    /// Every adapter sysfs lists, by number.
    public nonisolated static func all(sysfs: String = adapters) -> [Adapter] {
        directoryEntries(sysfs).compactMap { e -> Adapter? in
            guard e.hasPrefix("i2c-"), let n = Int(e.dropFirst(4)) else { return nil }
            let name = readTextFile("\(sysfs)/\(e)/name", limit: 256)?.split(separator: "\n").first.map(String.init) ?? ""
            return Adapter(path: "/dev/i2c-\(n)", number: n, name: name)
        }.sorted { $0.number < $1.number }
    }

    /// The device of `bus`: a `/dev/…` path as it is (if it exists), or the one adapter whose
    /// name is `bus`.
    public nonisolated static func resolve(_ bus: String, role: String, sysfs: String = adapters) -> Result<String, BoardError> {
        let all = all(sysfs: sysfs)
        if bus.hasPrefix("/") {
            return access(bus, F_OK) == 0 ? .success(bus) : .failure(.i2cBusNotFound(bus: bus, role: role, available: all.map(\.label)))
        }
        let named = all.filter { $0.name == bus }
        if named.count == 1 { return .success(named[0].path) }
        if named.isEmpty { return .failure(.i2cBusNotFound(bus: "named '\(bus)'", role: role, available: all.map(\.label))) }
        return .failure(.i2cBusNotFound(bus: "named '\(bus)' (\(named.count) adapters have that name: give /dev/i2c-N)", role: role,
                                        available: named.map(\.label)))
    }
}
