import Board
import Glibc
import Kernel

/// A serial port through termios: opened `O_RDWR|O_NOCTTY|O_NONBLOCK`, exclusive (`TIOCEXCL`,
/// plus `flock`, which binds root too), raw, at one of the standard speeds, reads and writes
/// driven by the kernel's epoll set; the settings it found are restored on close.
///
/// A device that goes away (a USB adapter unplugged: read returns EIO or 0) is let go at once;
/// `reopen()` opens the same path again, and `waitForDevice(until:)` wakes when a node
/// appears in the device's directory (inotify), so a replug is noticed without polling.
@KernelActor
public final class LinuxSerialPort: SerialPort {
    public let role: String
    public let path: String
    public let settings: SerialSettings
    /// The open descriptor, -1 while the device is gone.
    private(set) var fd: Int32
    private var saved: termios
    /// `close()` was called: the port is given back for good.
    private var isClosed = false
    private let share = ReadShareCounter()

    /// Opens and configures `path`; errors name the device and say what to do.
    public init(path: String, settings: SerialSettings, role: String) throws {
        self.role = role
        self.path = path
        self.settings = settings
        (fd, saved) = try Self.open(path: path, settings: settings, role: role)
    }

    /// Opens the device again after it went away (the same path and settings), as the first
    /// open did; a no-op while it is open.
    public func reopen() throws {
        guard !isClosed else { throw BoardError.closed(what: "serial port \(path)") }
        guard fd < 0 else { return }
        (fd, saved) = try Self.open(path: path, settings: settings, role: role)
        share.value.waited()
    }

    /// Returns at `deadline` (kernel time), or sooner when something is created, moved in or
    /// changes attributes in the device's directory (udev making the node, then setting its
    /// group). Without inotify on that directory (gone with the device, as /dev/serial/by-id
    /// can be) it just waits.
    public func waitForDevice(until deadline: Int64) async throws {
        let dir = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let ino = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard ino >= 0 else { return try await sleep(until: deadline, tolerance: Kernel.coarseTolerance) }
        defer { closeDescriptor(ino) }
        guard inotify_add_watch(ino, dir, UInt32(IN_CREATE | IN_MOVED_TO | IN_ATTRIB)) >= 0 else { return try await sleep(until: deadline, tolerance: Kernel.coarseTolerance) }
        let ms = max(0, Int((deadline - Kernel.now + 999_999) / 1_000_000))
        do { try await withTimeout(ms: ms) { try await readable(ino) } } catch is TimeoutError {}
    }

    /// Opens and configures `path`: the descriptor and the settings to give back on close.
    private static func open(path: String, settings: SerialSettings, role: String) throws -> (Int32, termios) {
        guard let speed = Self.speeds[settings.baud] else { throw BoardError.unsupportedSpeed(path: path, baud: settings.baud) }
        let fd = Glibc.open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        if fd < 0 { throw Self.openError(errno, path: path, role: role) }
        var ok = false
        defer { if !ok { Self.letGo(fd); Glibc.close(fd) } }
        if ioctl(fd, UInt(TIOCEXCL)) != 0 && errno != ENOTTY {
            throw BoardError.system(call: "ioctl(TIOCEXCL)", errno: errno, what: path)
        }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EWOULDBLOCK { throw BoardError.deviceBusy(path: path, role: role) }
            throw BoardError.system(call: "flock", errno: errno, what: path)
        }
        var t = termios()
        if tcgetattr(fd, &t) != 0 {
            throw errno == ENOTTY ? BoardError.system(call: "tcgetattr", errno: ENOTTY, what: "\(path) (not a serial device)")
                                  : BoardError.system(call: "tcgetattr", errno: errno, what: path)
        }
        let saved = t
        Self.configure(&t, settings, speed: speed)
        if tcsetattr(fd, TCSANOW, &t) != 0 { throw BoardError.system(call: "tcsetattr", errno: errno, what: path) }
        // Drivers change what they cannot do without saying so: read it back.
        var back = termios()
        if tcgetattr(fd, &back) != 0 || cfgetospeed(&back) != speed || cfgetispeed(&back) != speed {
            throw BoardError.unsupportedSpeed(path: path, baud: settings.baud)
        }
        let kept = Self.frame(back)
        if kept != Self.frame(t) {
            throw BoardError.unsupportedSettings(path: path, wanted: settings.description, got: "\(settings.baud) \(kept)")
        }
        _ = tcflush(fd, TCIOFLUSH)
        ok = true
        return (fd, saved)
    }

    /// termios speed constants for the standard rates.
    nonisolated static let speeds: [Int: speed_t] = [
        1200: speed_t(B1200), 1800: speed_t(B1800), 2400: speed_t(B2400), 4800: speed_t(B4800), 9600: speed_t(B9600),
        19200: speed_t(B19200), 38400: speed_t(B38400), 57600: speed_t(B57600), 115200: speed_t(B115200),
        230400: speed_t(B230400), 460800: speed_t(B460800), 500000: speed_t(B500000), 576000: speed_t(B576000),
        921600: speed_t(B921600),
    ]

    /// Raw mode (cfmakeraw), the frame, flow control, VMIN = 1 and VTIME = 0. With O_NONBLOCK
    /// that makes "no data yet" EAGAIN (wait in epoll) and a read of 0 mean the device hung up
    /// (unplugged, or a pty's other end closed); with VMIN = 0 both would read as 0.
    nonisolated static func configure(_ t: inout termios, _ s: SerialSettings, speed: speed_t) {
        cfmakeraw(&t)
        t.c_cflag |= tcflag_t(CLOCAL | CREAD)
        t.c_cflag &= ~tcflag_t(CSIZE)
        switch s.dataBits {
        case 5: t.c_cflag |= tcflag_t(CS5)
        case 6: t.c_cflag |= tcflag_t(CS6)
        case 7: t.c_cflag |= tcflag_t(CS7)
        default: t.c_cflag |= tcflag_t(CS8)
        }
        t.c_cflag &= ~tcflag_t(PARENB | PARODD)
        if s.parity != .none {
            t.c_cflag |= tcflag_t(PARENB)
            if s.parity == .odd { t.c_cflag |= tcflag_t(PARODD) }
        }
        if s.stopBits == 2 { t.c_cflag |= tcflag_t(CSTOPB) } else { t.c_cflag &= ~tcflag_t(CSTOPB) }
        if s.rtsCts { t.c_cflag |= tcflag_t(CRTSCTS) } else { t.c_cflag &= ~tcflag_t(CRTSCTS) }
        t.c_iflag &= ~tcflag_t(IXON | IXOFF | IXANY)
        withUnsafeMutableBytes(of: &t.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        cfsetispeed(&t, speed)
        cfsetospeed(&t, speed)
    }

    /// Gives up exclusivity before the descriptor closes. Explicitly: a copy of it (a child
    /// process between fork and exec) would otherwise keep the port exclusive and locked, and
    /// the next open would find it busy.
    nonisolated static func letGo(_ fd: Int32) {
        _ = ioctl(fd, UInt(TIOCNXCL))
        _ = flock(fd, LOCK_UN)
    }

    /// The frame a termios holds, as "8N1" (+ " rtscts").
    nonisolated static func frame(_ t: termios) -> String {
        let bits: [tcflag_t: Int] = [tcflag_t(CS5): 5, tcflag_t(CS6): 6, tcflag_t(CS7): 7, tcflag_t(CS8): 8]
        let c = t.c_cflag
        let parity = c & tcflag_t(PARENB) == 0 ? "N" : (c & tcflag_t(PARODD) != 0 ? "O" : "E")
        return "\(bits[c & tcflag_t(CSIZE)] ?? 8)\(parity)\(c & tcflag_t(CSTOPB) != 0 ? 2 : 1)" + (c & tcflag_t(CRTSCTS) != 0 ? " rtscts" : "")
    }

    nonisolated static func openError(_ e: Int32, path: String, role: String) -> BoardError {
        switch e {
        case ENOENT, ENODEV, ENXIO: return .deviceAbsent(path: path, role: role)
        case EACCES, EPERM:
            var st = stat()
            var group: String? = nil
            if stat(path, &st) == 0, let g = getgrgid(st.st_gid) { group = String(cString: g.pointee.gr_name) }
            return .permissionDenied(path: path, group: group, role: role)
        case EBUSY: return .deviceBusy(path: path, role: role)
        default: return .system(call: "open", errno: e, what: path)
        }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        try check()
        if buffer.count == 0 { return 0 }
        let n = try await NonBlocking.read({ self.fd }, capacity: buffer.count, share: share, check: check, failure: { e in
            [EIO, ENODEV, ENXIO].contains(e) ? self.wentAway(e) : BoardError.system(call: "read", errno: e, what: self.path)
        }) { fd in Glibc.read(fd, buffer.baseAddress, buffer.count) }
        if n == 0 { throw wentAway(EIO) }   // a tty's end of file: its other end went away
        return n
    }

    private func check() throws {
        if isClosed { throw BoardError.closed(what: "serial port \(path)") }
        if fd < 0 { throw BoardError.deviceGone(path: path, role: role) }
    }

    /// The device went away: its descriptor is let go at once (no settings to restore on a
    /// device that is not there); `reopen()` takes it again.
    private func wentAway(_ e: Int32) -> BoardError {
        Self.letGo(fd)
        closeDescriptor(fd)
        fd = -1
        return BoardError.system(call: "read", errno: e, what: "\(path) (the device or its other end went away)")
    }

    public func write(_ bytes: [UInt8]) async throws {
        try await NonBlocking.write(bytes, { self.fd }, check: check, failure: { e in
            BoardError.system(call: "write", errno: e, what: self.path)
        }) { fd, b in Glibc.write(fd, b.baseAddress, b.count) }
    }

    /// Waits (on the kernel's clock, not in tcdrain) until the output queue is empty.
    public func drain() async throws {
        while !isClosed && fd >= 0 {
            var queued: Int32 = 0
            if ioctl(fd, UInt(TIOCOUTQ), &queued) != 0 || queued <= 0 { return }
            let ms = max(1, Int(Int64(queued) * settings.characterNanoseconds / 1_000_000))
            try await sleep(ms: ms, tolerance: Kernel.coarseTolerance)
        }
    }

    public func close() {
        guard !isClosed else { return }
        isClosed = true
        guard fd >= 0 else { return }
        _ = tcsetattr(fd, TCSANOW, &saved)
        Self.letGo(fd)
        closeDescriptor(fd)
        fd = -1
    }
}
