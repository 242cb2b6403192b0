import Board
import Glibc
import Kernel
import KernelTestSupport
@testable import LinuxBoard
import Testing

/// I2C on Linux: each transfer's SMBus encoding (what the `I2C_SMBUS` ioctl gets), the bus
/// found by its adapter's name in a fake sysfs tree, and every error naming the role, the bus
/// and the address. The real ioctls run in the HIL VM, against the kernel's i2c-stub.
@Suite struct I2CTests {
    typealias Call = LinuxI2C.SMBusCall

    @Test func everyTransferHasItsSMBusEncoding() throws {
        var c = try #require(Call(.readByte))
        #expect(c.read && c.size == 1 && c.command == 0)
        c = try #require(Call(.writeByte(0xB6)))
        #expect(!c.read && c.size == 1 && c.command == 0xB6)
        c = try #require(Call(.readByteData(register: 0xD0)))
        #expect(c.read && c.size == 2 && c.command == 0xD0)
        c = try #require(Call(.writeByteData(register: 0xF4, value: 0x25)))
        #expect(!c.read && c.size == 2 && c.command == 0xF4 && c.data[0] == 0x25)
        c = try #require(Call(.readWordData(register: 1)))
        #expect(c.read && c.size == 3 && c.command == 1)
        // A word goes low byte first.
        c = try #require(Call(.writeWordData(register: 1, value: 0x83C3)))
        #expect(!c.read && c.size == 3 && c.data[0] == 0xC3 && c.data[1] == 0x83)
        // An I2C block: its length first, at most 32.
        c = try #require(Call(.readBlock(register: 0x88, count: 26)))
        #expect(c.read && c.size == 8 && c.command == 0x88 && c.data[0] == 26)
        #expect(try #require(Call(.readBlock(register: 0, count: 99))).data[0] == 32)
        c = try #require(Call(.writeBlock(register: 0x10, bytes: [1, 2, 3])))
        #expect(!c.read && c.size == 8 && Array(c.data.prefix(4)) == [3, 1, 2, 3])
        // A combined write-read is I2C_RDWR, not SMBus.
        #expect(Call(.writeRead(bytes: [0xF7], count: 8)) == nil)
    }

    @Test func readsAreDecodedFromTheDataUnion() throws {
        var filled = [UInt8](repeating: 0, count: 34)
        filled[0] = 0x34; filled[1] = 0x12; filled[2] = 0x99
        #expect(try #require(Call(.readByteData(register: 0))).result(filled) == [0x34])
        #expect(try #require(Call(.readWordData(register: 0))).result(filled) == [0x34, 0x12])
        var block = [UInt8](repeating: 0, count: 34)
        block[0] = 3; block[1] = 7; block[2] = 8; block[3] = 9
        #expect(try #require(Call(.readBlock(register: 0, count: 3))).result(block) == [7, 8, 9])
        #expect(try #require(Call(.writeByteData(register: 0, value: 1))).result(filled) == [])
    }

    /// A fake /sys/bus/i2c/devices with `names` (i2c-N: name) and a device (1-0076: not an
    /// adapter).
    static func adapters(_ names: [Int: String]) -> String {
        let dir = temporaryDirectory("firmloop-i2c")
        mkdir("\(dir)/1-0076", 0o755)
        _ = writeBytes("\(dir)/1-0076/name", Array("bme280\n".utf8))
        for (n, name) in names {
            mkdir("\(dir)/i2c-\(n)", 0o755)
            _ = writeBytes("\(dir)/i2c-\(n)/name", Array((name + "\n").utf8))
        }
        return dir
    }

    @Test func aBusIsFoundByItsAdaptersNameAndErrorsListWhatThereIs() throws {
        let dir = Self.adapters([1: "bcm2835 (i2c@7e804000)", 20: "fef04500.i2c", 11: "SMBus stub driver", 12: "dup", 13: "dup"])
        defer { removeDirectory(dir) }
        #expect(LinuxI2C.all(sysfs: dir).map(\.number) == [1, 11, 12, 13, 20])
        #expect(try LinuxI2C.resolve("SMBus stub driver", role: "adc", sysfs: dir).get() == "/dev/i2c-11")
        #expect(try LinuxI2C.resolve("bcm2835 (i2c@7e804000)", role: "adc", sysfs: dir).get() == "/dev/i2c-1")
        let missing = "\(LinuxI2C.resolve("nope", role: "climate", sysfs: dir).failure!)"
        #expect(missing.hasPrefix("role 'climate': no I2C bus named 'nope' on this machine (it has: /dev/i2c-1 (bcm2835 (i2c@7e804000)), /dev/i2c-11 (SMBus stub driver)"))
        let twice = "\(LinuxI2C.resolve("dup", role: "x", sysfs: dir).failure!)"
        #expect(twice.contains("2 adapters have that name: give /dev/i2c-N"))
        let none = "\(LinuxI2C.resolve("/dev/i2c-77", role: "x", sysfs: "/nonexistent").failure!)"
        #expect(none == "role 'x': no I2C bus /dev/i2c-77 on this machine (none at all: enable one, on a Pi with dtparam=i2c_arm=on, and load i2c-dev)")
    }

    @Test func aBoardWithAMissingBusFailsAtOnceNamingTheRole() throws {
        let d = try BoardDescription.parse(#"{"board": "b", "roles": {"climate": {"type": "i2c", "bus": "/dev/i2c-93", "address": "0x76"}}}"#, file: "b.json")
        let text = try kernelTest { () async throws -> String in
            do {
                _ = try LinuxHardware(d)
                return "made"
            } catch { return "\(error)" }
        }
        #expect(text.hasPrefix("role 'climate': no I2C bus /dev/i2c-93 on this machine"))
    }

    @Test func aNackIsNoAnswerAndOtherErrorsAreTransferFailures() {
        for e in [ENXIO, EREMOTEIO, ENODEV] {
            #expect(LinuxI2C.failure(e, address: 0x76, bus: "/dev/i2c-1", role: "climate")
                    == .i2cNoAnswer(bus: "/dev/i2c-1", address: 0x76, role: "climate"))
        }
        #expect("\(LinuxI2C.failure(ENXIO, address: 0x76, bus: "/dev/i2c-1", role: "climate"))"
                == "role 'climate': no answer from 0x76 on /dev/i2c-1 (check wiring, power and the address)")
        #expect("\(LinuxI2C.failure(ETIMEDOUT, address: 0x48, bus: "/dev/i2c-1", role: "adc"))"
                == "role 'adc': I2C transfer to 0x48 on /dev/i2c-1 failed: Connection timed out (errno 110)")
        #expect("\(BoardError.i2cUnsupported(bus: "/dev/i2c-3", missing: I2CFunctions.i2cBlock.description, role: "x"))"
                == "role 'x': the I2C adapter of /dev/i2c-3 cannot do SMBus I2C block read, SMBus I2C block write")
    }
}

extension Result {
    var failure: Failure? { if case .failure(let e) = self { return e }; return nil }
}
