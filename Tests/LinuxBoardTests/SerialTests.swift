import Board
import CSystem
import Glibc
import Kernel
import KernelTestSupport
import Testing
@testable import LinuxBoard

/// Reads exactly `count` bytes from a non-blocking fd.
@KernelActor func readExactly(_ fd: Int32, _ count: Int) async throws -> [UInt8] {
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    while out.count < count {
        let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, count - out.count)) }
        if n > 0 { out += buf[0..<n] } else if errno == EAGAIN { try await readable(fd) } else { throw BoardError.system(call: "read", errno: errno, what: "pty master") }
    }
    return out
}

@Suite struct SerialTests {
    static let frames = ["8N1", "7E1", "7O2", "8E2", "5N1", "6O1", "8N2", "8N1 rtscts"]

    /// The termios our settings make, for every frame (the bits a pty cannot keep included).
    @Test(arguments: frames)
    func settingsBecomeTheRightTermiosBits(_ f: String) throws {
        let s = try SerialSettings.parse("9600 \(f)").get()
        var t = termios()
        LinuxSerialPort.configure(&t, s, speed: speed_t(B9600))
        #expect(LinuxSerialPort.frame(t) == f)
        #expect(t.c_cflag & tcflag_t(CLOCAL | CREAD) == tcflag_t(CLOCAL | CREAD))
    }

    /// On a real pty: every standard speed reads back with tcgetattr, with the frames a pty
    /// keeps; the pty driver forces CS8 and no parity (drivers/tty/pty.c, pty_set_termios), so
    /// asking it for 7E1 must fail naming the device and what it kept, never run silently.
    @Test(arguments: SerialSettings.standardRates)
    func everySpeedAndFormatReadsBack(_ baud: Int) throws {
        let (m, path) = try openPTY()
        defer { close(m) }
        try kernelTest {
            for f in Self.frames {
                let settings = try SerialSettings.parse("\(baud) \(f)").get()
                guard settings.dataBits == 8 && settings.parity == .none else {
                    #expect(throws: BoardError.unsupportedSettings(path: path, wanted: settings.description,
                                                                   got: "\(baud) 8N\(settings.stopBits)" + (settings.rtsCts ? " rtscts" : ""))) {
                        try LinuxSerialPort(path: path, settings: settings, role: "gps")
                    }
                    continue
                }
                let port = try LinuxSerialPort(path: path, settings: settings, role: "gps")
                defer { port.close() }
                var t = termios()
                #expect(tcgetattr(port.fd, &t) == 0)
                #expect(cfgetospeed(&t) == LinuxSerialPort.speeds[baud] && cfgetispeed(&t) == LinuxSerialPort.speeds[baud], "\(baud)")
                #expect(LinuxSerialPort.frame(t) == f)
                // Raw: no line editing, echo, signals, CR/LF translation or XON/XOFF.
                #expect(t.c_lflag & tcflag_t(ICANON | ECHO | ISIG | IEXTEN) == 0)
                #expect(t.c_iflag & tcflag_t(ICRNL | IXON | IXOFF | ISTRIP | INLCR) == 0)
                #expect(t.c_oflag & tcflag_t(OPOST) == 0)
                withUnsafeBytes(of: t.c_cc) { cc in #expect(cc[Int(VMIN)] == 1 && cc[Int(VTIME)] == 0) }
            }
        }
    }

    @Test func binaryBytesPassUnchangedBothWays() throws {
        let (m, path) = try openPTY()
        defer { close(m) }
        let bytes: [UInt8] = [0x00, 0x11, 0x13, 0xFF, 0x0D, 0x0A, 0x03, 0x1A, 0x04, 0x7F, 0x1C] + (0...255).map { UInt8($0) }
        let (got, back) = try kernelTest {
            let port = try LinuxSerialPort(path: path, settings: SerialSettings(baud: 115200), role: "gps")
            defer { port.close() }
            try await writeAll(m, bytes)
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 1024, alignment: 1)
            defer { buf.deallocate() }
            var got: [UInt8] = []
            while got.count < bytes.count { got += buf[0..<(try await port.read(into: buf))] }
            try await port.write(bytes)
            try await port.drain()
            return (got, try await readExactly(m, bytes.count))
        }
        #expect(got == bytes)
        #expect(back == bytes)
    }

    @Test func aMegabyteBurstLosesNothing() throws {
        let (m, path) = try openPTY()
        defer { close(m) }
        var x: UInt64 = 7
        let bytes = (0..<1_048_576).map { _ in x = x &* 6364136223846793005 &+ 1; return UInt8(x >> 56) }
        let got = try kernelTest {
            let port = try LinuxSerialPort(path: path, settings: SerialSettings(baud: 921600), role: "gps")
            defer { port.close() }
            let writer = spawn("device") { try await writeAll(m, bytes) }
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { buf.deallocate() }
            var got: [UInt8] = []
            got.reserveCapacity(bytes.count)
            while got.count < bytes.count { got += buf[0..<(try await port.read(into: buf))] }
            try await writer.value
            return got
        }
        #expect(got.count == bytes.count)
        #expect(got == bytes)
    }

    @Test func aPeerThatClosesMidStreamIsAnErrorNamingTheDevice() throws {
        let (m, path) = try openPTY()
        let (got, error) = try kernelTest { () async throws -> ([UInt8], String) in
            let port = try LinuxSerialPort(path: path, settings: SerialSettings(baud: 9600), role: "gps")
            defer { port.close() }
            try await writeAll(m, Array("$GPGGA,12".utf8))
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buf.deallocate() }
            var got: [UInt8] = []
            while got.count < 9 { got += buf[0..<(try await port.read(into: buf))] }
            close(m)
            do {
                _ = try await port.read(into: buf)
                return (got, "no error")
            } catch {
                return (got, "\(error)")
            }
        }
        #expect(String(decoding: got, as: UTF8.self) == "$GPGGA,12")
        #expect(error.contains("read failed for \(path) (the device or its other end went away)"), "\(error)")
    }

    @Test func exclusiveOpenRefusesASecondOpenerAndClosingRestoresTheSettings() throws {
        let (m, path) = try openPTY()
        defer { close(m) }
        // The device's settings before we touch it: 2400 baud.
        let s = open(path, O_RDWR | O_NOCTTY)
        var before = termios()
        tcgetattr(s, &before)
        cfsetspeed(&before, speed_t(B2400))
        tcsetattr(s, TCSANOW, &before)
        try kernelTest {
            let port = try LinuxSerialPort(path: path, settings: SerialSettings(baud: 115200), role: "gps")
            #expect(throws: BoardError.deviceBusy(path: path, role: "other")) {
                try LinuxSerialPort(path: path, settings: SerialSettings(baud: 9600), role: "other")
            }
            port.close()
            let again = try LinuxSerialPort(path: path, settings: SerialSettings(baud: 9600), role: "other")
            again.close()
        }
        var after = termios()
        tcgetattr(s, &after)
        close(s)
        #expect(cfgetospeed(&after) == speed_t(B2400))
    }

    @Test func openErrorsNameTheDevice() throws {
        try kernelTest {
            #expect(throws: BoardError.deviceAbsent(path: "/dev/ttyFIRMLOOP-NONE", role: "gps")) {
                try LinuxSerialPort(path: "/dev/ttyFIRMLOOP-NONE", settings: SerialSettings(), role: "gps")
            }
            #expect(throws: BoardError.unsupportedSpeed(path: "/dev/null", baud: 12345)) {
                try LinuxSerialPort(path: "/dev/null", settings: SerialSettings(baud: 12345), role: "gps")
            }
            do {
                _ = try LinuxSerialPort(path: "/dev/null", settings: SerialSettings(), role: "gps")
                Issue.record("opened /dev/null as a serial port")
            } catch {
                #expect("\(error)".contains("/dev/null (not a serial device)"), "\(error)")
            }
        }
        #expect(BoardError.permissionDenied(path: "/dev/ttyAMA0", group: "dialout", role: "gps").description
                == "role 'gps': permission denied opening /dev/ttyAMA0 (add your user to the 'dialout' group)")
    }
}
