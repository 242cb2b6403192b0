import Kernel

/// One transfer on an I2C bus, as Linux's i2c-dev names them: the SMBus transfers (through
/// the `I2C_SMBUS` ioctl, which every adapter and the kernel's i2c-stub can do) and a combined
/// write-then-read with a repeated start (`I2C_RDWR`, for devices that need one). SMBus words
/// are little-endian on the wire; devices with big-endian registers (ADS1115) swap them.
public enum I2CTransfer: Sendable, Equatable {
    /// SMBus "receive byte".
    case readByte
    /// SMBus "send byte".
    case writeByte(UInt8)
    case readByteData(register: UInt8)
    case writeByteData(register: UInt8, value: UInt8)
    case readWordData(register: UInt8)
    case writeWordData(register: UInt8, value: UInt16)
    /// SMBus "I2C block read": `count` (1...32) bytes from `register` on.
    case readBlock(register: UInt8, count: Int)
    /// SMBus "I2C block write": up to 32 bytes from `register` on.
    case writeBlock(register: UInt8, bytes: [UInt8])
    /// `bytes` written, then `count` (1...256) read after a repeated start (`I2C_RDWR`).
    case writeRead(bytes: [UInt8], count: Int)

    /// What an adapter must be able to do for this transfer.
    public var function: I2CFunctions {
        switch self {
        case .readByte: .readByte
        case .writeByte: .writeByte
        case .readByteData: .readByteData
        case .writeByteData: .writeByteData
        case .readWordData: .readWordData
        case .writeWordData: .writeWordData
        case .readBlock: .readI2CBlock
        case .writeBlock: .writeI2CBlock
        case .writeRead: .plainI2C
        }
    }
}

/// What an adapter can do (`I2C_FUNCS`; the bits are linux/i2c.h's).
public struct I2CFunctions: OptionSet, Sendable, CustomStringConvertible {
    public let rawValue: UInt
    public init(rawValue: UInt) { self.rawValue = rawValue }

    public static let plainI2C = I2CFunctions(rawValue: 0x0000_0001)
    public static let quick = I2CFunctions(rawValue: 0x0001_0000)
    public static let readByte = I2CFunctions(rawValue: 0x0002_0000)
    public static let writeByte = I2CFunctions(rawValue: 0x0004_0000)
    public static let readByteData = I2CFunctions(rawValue: 0x0008_0000)
    public static let writeByteData = I2CFunctions(rawValue: 0x0010_0000)
    public static let readWordData = I2CFunctions(rawValue: 0x0020_0000)
    public static let writeWordData = I2CFunctions(rawValue: 0x0040_0000)
    public static let readI2CBlock = I2CFunctions(rawValue: 0x0400_0000)
    public static let writeI2CBlock = I2CFunctions(rawValue: 0x0800_0000)

    public static let byteData: I2CFunctions = [.readByteData, .writeByteData]
    public static let wordData: I2CFunctions = [.readWordData, .writeWordData]
    public static let i2cBlock: I2CFunctions = [.readI2CBlock, .writeI2CBlock]

    static let names: [(I2CFunctions, String)] = [
        (.plainI2C, "plain I2C transfers (I2C_RDWR)"), (.quick, "SMBus quick"), (.readByte, "SMBus receive byte"),
        (.writeByte, "SMBus send byte"), (.readByteData, "SMBus read byte data"), (.writeByteData, "SMBus write byte data"),
        (.readWordData, "SMBus read word data"), (.writeWordData, "SMBus write word data"),
        (.readI2CBlock, "SMBus I2C block read"), (.writeI2CBlock, "SMBus I2C block write"),
    ]

    /// "SMBus read word data, SMBus I2C block read": the functions in this set.
    public var description: String {
        let n = Self.names.filter { contains($0.0) }.map(\.1)
        return n.isEmpty ? "nothing" : n.joined(separator: ", ")
    }
}

/// A device at one address on an I2C bus (an I2C role). Every transfer is async: on Linux it
/// blocks in the kernel (0.1 to 1 ms at 100 kHz, more while a device stretches the clock), so
/// it runs off the kernel thread. A device that does not answer throws
/// `BoardError.i2cNoAnswer`; a bus error or timeout `BoardError.i2cTransfer`.
@KernelActor
public protocol I2CDevice: AnyObject {
    var role: String { get }
    /// The bus as found (`/dev/i2c-1`; "sim:…" simulated).
    var bus: String { get }
    var address: Int { get }
    /// What the adapter can do.
    var functions: I2CFunctions { get }
    /// Does `transfer`; returns the bytes read (empty for a write; a word is 2 bytes, low first).
    func perform(_ transfer: I2CTransfer) async throws -> [UInt8]
}

extension I2CDevice {
    /// Throws `BoardError.i2cUnsupported` naming what the adapter lacks of `needed` (a driver
    /// calls it when it attaches, so a start fails at once rather than at the first read).
    public func require(_ needed: I2CFunctions) throws {
        let missing = needed.subtracting(functions)
        if !missing.isEmpty { throw BoardError.i2cUnsupported(bus: bus, missing: missing.description, role: role) }
    }

    public func readByteData(_ register: UInt8) async throws -> UInt8 {
        try await perform(.readByteData(register: register)).first ?? 0
    }

    public func writeByteData(_ register: UInt8, _ value: UInt8) async throws {
        _ = try await perform(.writeByteData(register: register, value: value))
    }

    /// SMBus word (low byte first on the wire).
    public func readWordData(_ register: UInt8) async throws -> UInt16 {
        let b = try await perform(.readWordData(register: register))
        return UInt16(b.first ?? 0) | UInt16(b.count > 1 ? b[1] : 0) << 8
    }

    public func writeWordData(_ register: UInt8, _ value: UInt16) async throws {
        _ = try await perform(.writeWordData(register: register, value: value))
    }

    /// A big-endian 16-bit register through SMBus word transfers (bytes swapped).
    public func readBigEndian16(_ register: UInt8) async throws -> UInt16 { try await readWordData(register).byteSwapped }

    public func writeBigEndian16(_ register: UInt8, _ value: UInt16) async throws {
        try await writeWordData(register, value.byteSwapped)
    }

    public func readBlock(_ register: UInt8, count: Int) async throws -> [UInt8] {
        try await perform(.readBlock(register: register, count: count))
    }
}
