import Board
import Glibc

/// systemd's notification protocol (sd_notify(3)) without libsystemd: one `AF_UNIX` datagram
/// per message to `$NOTIFY_SOCKET` (a path, or with a leading `@` a name in the abstract
/// namespace). `READY=1`, `STATUS=…`, `STOPPING=1`, `WATCHDOG=1`.
///
/// Made only when the service manager asked for it (`$NOTIFY_SOCKET` set); a process started
/// by hand has none and sends nothing.
public final class SystemdNotify: Sendable {
    /// `$NOTIFY_SOCKET` as given (for messages).
    public let socket: String
    /// How often systemd wants `WATCHDOG=1` (`$WATCHDOG_USEC`, in ns), nil when the unit has no
    /// `WatchdogSec=` or `$WATCHDOG_PID` names another process. Ping at half of it.
    public let watchdogNanoseconds: Int64?
    private let fd: Int32
    private let address: sockaddr_un
    private let addressLength: socklen_t

    /// From the environment (`getenv` unless given): nil when `$NOTIFY_SOCKET` is absent or
    /// empty. Throws when it is set but unusable (not a path or `@name`, too long).
    public static func fromEnvironment(_ env: (String) -> String? = environment) throws(BoardError) -> SystemdNotify? {
        guard let path = env("NOTIFY_SOCKET"), !path.isEmpty else { return nil }
        var watchdog: Int64? = nil
        if let usec = env("WATCHDOG_USEC").flatMap({ Int64($0) }), usec > 0 {
            let pid = env("WATCHDOG_PID").flatMap { Int32($0) }
            if pid == nil || pid == getpid() { watchdog = usec * 1000 }
        }
        return try SystemdNotify(socket: path, watchdogNanoseconds: watchdog)
    }

    public init(socket path: String, watchdogNanoseconds: Int64? = nil) throws(BoardError) {
        socket = path
        self.watchdogNanoseconds = watchdogNanoseconds
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        guard abstract || bytes.first == UInt8(ascii: "/") else {
            throw .system(call: "sd_notify", errno: EAFNOSUPPORT, what: "$NOTIFY_SOCKET '\(path)' (expected /path or @name)")
        }
        if abstract { bytes[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)
        guard bytes.count < capacity else {
            throw .system(call: "sd_notify", errno: ENAMETOOLONG, what: "$NOTIFY_SOCKET '\(path)'")
        }
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &a.sun_path) { $0.copyBytes(from: bytes) }
        address = a
        // An abstract name is exactly its bytes; a path is NUL-terminated.
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        addressLength = socklen_t(pathOffset + bytes.count + (abstract ? 0 : 1))
        fd = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw .system(call: "socket", errno: errno, what: "$NOTIFY_SOCKET \(path)") }
    }

    deinit { close(fd) }

    /// Sends one message (`"READY=1"`, `"STATUS=…"`; several assignments may be joined with
    /// newlines). Never blocks: a full socket buffer is reported, not waited for.
    public func send(_ message: String) throws(BoardError) {
        var text = message
        var address = self.address
        let sent = text.withUTF8 { b in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, b.baseAddress, b.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT), $0, addressLength)
                }
            }
        }
        if sent < 0 {
            throw .system(call: "sendto", errno: errno, what: "$NOTIFY_SOCKET \(socket)")
        }
    }

    public static func environment(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
}
