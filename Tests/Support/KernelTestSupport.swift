// Shared by every test target: Swift Testing runs all suites of all targets in one process, in
// parallel, and a process runs one kernel at a time.
import CSystem
import CTestSupport
import Glibc
import Kernel
import Testing

private let kernelTurn = ThreadMutex(())

/// Runs `body` on a kernel (virtual clock unless told otherwise), waiting for any other test's
/// kernel to finish first.
public func kernelTest<T: Sendable>(
    virtual: Bool = true, options: KernelOptions? = nil,
    _ body: @escaping @Sendable @KernelActor () async throws -> T
) throws -> T {
    try kernelTurn.withLock { _ in
        try Kernel.run(options ?? KernelOptions(clock: virtual ? .virtual() : .monotonic), body)
    }
}

/// Runs synchronous code that starts kernels itself (a `Simulation`), in turn with the others.
public func withKernelTurn<T>(_ body: () throws -> T) rethrows -> T {
    try kernelTurn.withLock { _ in try body() }
}

/// A value behind a lock (ThreadSanitizer sees it), for results handed back from other threads and callbacks.
public final class Locked<Value: Sendable>: Sendable {
    private let m: ThreadMutex<Value>
    public init(_ v: Value) { m = ThreadMutex(v) }
    public func get() -> Value { m.withLock { $0 } }
    public func set(_ v: Value) { m.withLock { $0 = v } }
}

public func readFile(_ path: String) -> String? {
    fileBytes(path).map { String(decoding: $0, as: UTF8.self) }
}

/// The repository's root (for boards/ and Tests/Fixtures), from this file's path.
public let repositoryRoot: String = {
    let f = "\(#filePath)"
    var parts = f.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)   // Tests/Support/KernelTestSupport.swift
    return parts.joined(separator: "/")
}()

/// Names in `dir` that start with `prefix`, sorted.
public func files(in dir: String, prefix: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name.hasPrefix(prefix) { out.append(name) }
    }
    return out.sorted()
}

/// Every `.swift` file under `dir`, at any depth (hidden names skipped).
public func swiftFiles(under dir: String) -> [String] {
    guard let d = opendir(dir) else { return [] }
    defer { closedir(d) }
    var out: [String] = []
    while let e = readdir(d) {
        let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if name.hasPrefix(".") { continue }
        let path = dir + "/" + name
        if e.pointee.d_type == UInt8(DT_DIR) { out += swiftFiles(under: path) } else if name.hasSuffix(".swift") { out.append(path) }
    }
    return out.sorted()
}

/// gpsd's NMEA regression logs, relative to `repositoryRoot`, each beside its `.chk` (gpsd's own
/// decoding of it): the set in `Tests/Fixtures/gpsd` (from the gpsd project's test suite,
/// BSD-2-Clause: its COPYING) and the one the simulated board replays, `boards/nmea/neo-m8n.log`.
public let gpsdLogs: [String] = (files(in: "\(repositoryRoot)/Tests/Fixtures/gpsd", prefix: "").filter { $0.hasSuffix(".log") }
    .map { "Tests/Fixtures/gpsd/\($0)" } + ["boards/nmea/neo-m8n.log"]).sorted()

/// A program the tests start (mosquitto, mosquitto_sub): stdout and stderr go to `output`.
/// Starting one takes the kernel turn, so not from inside `kernelTest`.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    private var status: Int32?

    /// `environment` is added to (or overrides) the test process's own. `withoutEpollPwait2`:
    /// under a seccomp filter that answers epoll_pwait2 with ENOSYS, as a kernel before 5.11
    /// (or qemu-user before 11) does.
    public init(_ path: String, _ args: [String], output: String, append: Bool = false,
                environment: [String: String] = [:], withoutEpollPwait2: Bool = false) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // A clean signal state: the test runner's threads may block SIGTERM, and a child
        // inherits that mask (mosquitto would then never stop).
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([path] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var env: [UnsafeMutablePointer<CChar>?] = []
        var e = environ
        while let entry = e.pointee {
            let name = String(cString: entry).prefix { $0 != "=" }
            if environment[String(name)] == nil { env.append(strdup(entry)) }
            e += 1
        }
        env += environment.map { strdup("\($0.key)=\($0.value)") }
        env.append(nil)
        defer { env.forEach { free($0) } }
        var pid: pid_t = 0
        // In the kernel turn: between fork and exec the child holds copies of this process's
        // descriptors, which must not overlap a serial test opening and closing ports.
        let r: Int32
        if withoutEpollPwait2 {
            let fd = open(output, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o644)
            guard fd >= 0 else { throw SpawnError(message: "cannot open \(output): \(String(cString: strerror(errno)))") }
            defer { close(fd) }
            let child = withKernelTurn { fl_spawn_without_epoll_pwait2(path, argv, env, fd) }
            (r, pid) = child < 0 ? (-child, 0) : (0, child)
        } else {
            r = withKernelTurn { posix_spawn(&pid, path, &actions, &attr, argv, env) }
        }
        guard r == 0 else { throw SpawnError(message: "cannot start \(path): \(String(cString: strerror(r)))") }
        self.pid = pid
    }

    /// Waits for the program to exit; its exit status (128 + signal if killed).
    @discardableResult
    public func wait() -> Int32 {
        if let s = status { return s }
        var st: Int32 = 0
        while waitpid(pid, &st, 0) < 0 && errno == EINTR {}
        let s = (st & 0x7F) == 0 ? (st >> 8) & 0xFF : 128 + (st & 0x7F)
        status = s
        return s
    }

    /// SIGTERM, and SIGKILL if it is still there 5 s later.
    @discardableResult
    public func terminate() -> Int32 {
        if status == nil {
            kill(pid, SIGTERM)
            if !waitUntil(seconds: 5, { hasExited }) { kill(pid, SIGKILL) }
        }
        return wait()
    }

    public var hasExited: Bool {
        if status != nil { return true }
        var st: Int32 = 0
        if waitpid(pid, &st, WNOHANG) == pid {
            status = (st & 0x7F) == 0 ? (st >> 8) & 0xFF : 128 + (st & 0x7F)
            return true
        }
        return false
    }
}

public struct SpawnError: Error, CustomStringConvertible {
    public let description: String
    public init(message: String) { description = message }
}

/// Polls `condition` every 10 ms until it holds or `seconds` pass (for an outside program to
/// get ready: a bounded wait for a state, not a sleep that hopes).
public func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    let end = Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9 + seconds
    while !condition() {
        clock_gettime(CLOCK_MONOTONIC, &ts)
        if Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9 > end { return false }
        usleep(10_000)
    }
    return true
}

/// The `firmloop` executable built beside the test binary (.build/<config>/).
public let firmloopExecutable: String = {
    var exe = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &exe, 4095)
    var dir = n > 0 ? String(decoding: exe.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    while !dir.isEmpty && !dir.hasSuffix("/") { dir.removeLast() }
    return dir + "firmloop"
}()

/// A fresh directory under /tmp.
public func temporaryDirectory(_ prefix: String = "firmloop") -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}

/// A fresh folder of TLS test certificates made by `Tests/TLSTests/make-certs.sh` (openssl):
/// a CA, server, client, wrong-name and expired certificates, readable by mosquitto's user.
public func makeTestCertificates() -> String {
    let dir = temporaryDirectory("firmloop-certs")
    chmod(dir, 0o755)   // mosquitto reads them after dropping root
    let p = try? ChildProcess("/bin/sh", ["\(repositoryRoot)/Tests/TLSTests/make-certs.sh", dir], output: dir + "/make-certs.log")
    _ = p?.wait()
    return dir
}

/// A free TCP port on 127.0.0.1 (bound, noted, released).
public func freeLoopbackPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
    _ = withUnsafePointer(to: &a) { bind(fd, UnsafeRawPointer($0).assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_in>.size)) }
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &a) { getsockname(fd, UnsafeMutableRawPointer($0).assumingMemoryBound(to: sockaddr.self), &len) }
    return Int(UInt16(bigEndian: a.sin_port))
}

/// A real mosquitto on 127.0.0.1 and a free port, started for a test by the project's one
/// start-up (scripts/mosquitto.sh: anonymous, logging to a file the test can watch).
/// `restart()` starts it again on the same port; with `persistent`, sessions and queued
/// messages survive that (saved on SIGTERM), as on a real server.
public final class Mosquitto: @unchecked Sendable {
    public let port: Int
    public let dir: String
    public let log: String
    let arguments: [String]
    var process: ChildProcess

    /// `listener`: lines for the listener (e.g. TLS: cafile, certfile, keyfile, require_certificate).
    /// `more`: lines at the end of the configuration (another listener, say).
    public init(persistent: Bool = false, listener: String = "", more: String = "") throws {
        port = freeLoopbackPort()
        dir = temporaryDirectory("firmloop-mosquitto")
        chmod(dir, 0o777)   // mosquitto drops root for its own user, and saves its database here
        // The log goes to stderr (unbuffered), a file opened before mosquitto drops root.
        log = dir + "/mosquitto.log"
        arguments = [dir, "\(port)"] + (persistent ? ["--persistent"] : [])
            + [listener + "log_type all\nconnection_messages true\n" + more]
        process = try Mosquitto.start(arguments, port: port, log: log)
    }

    static func start(_ arguments: [String], port: Int, log: String) throws -> ChildProcess {
        // The script execs mosquitto: the child is mosquitto itself (terminate() reaches it).
        let p = try ChildProcess("\(repositoryRoot)/scripts/mosquitto.sh", arguments, output: log, append: true)
        guard waitUntil(seconds: 10, { canConnect(port) }) else {
            p.terminate()
            throw SpawnError(message: "mosquitto did not listen on 127.0.0.1:\(port): \(readFile(log) ?? "")")
        }
        return p
    }

    /// Starts it again (after `stop()`), same port, same configuration.
    public func restart() throws {
        process = try Mosquitto.start(arguments, port: port, log: log)
    }

    /// Whether the log has a line containing `text`.
    public func logged(_ text: String) -> Bool { readFile(log)?.contains(text) ?? false }

    public func stop() {
        process.terminate()
    }

    deinit { process.terminate() }
}

func canConnect(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = UInt16(port).bigEndian
    a.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
    return withUnsafePointer(to: &a) { connect(fd, UnsafeRawPointer($0).assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_in>.size)) } == 0
}

/// A pty pair: the master (our "device" side, non-blocking) and the slave's path, which the
/// port under test opens like any serial device.
public func openPTY() throws -> (master: Int32, path: String) {
    var name = [CChar](repeating: 0, count: 128)
    let m = fl_openpty(&name, 128)
    try #require(m >= 0, "openpty: errno \(-m)")
    return (m, String(cString: name))
}

/// Writes all of `bytes` to a non-blocking fd, waiting in the kernel when it is full.
@KernelActor public func writeAll(_ fd: Int32, _ bytes: [UInt8]) async throws {
    var off = 0
    while off < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + off, min(4096, $0.count - off)) }
        if n > 0 { off += n } else if errno == EAGAIN { try await writable(fd) } else { throw PTYError(errno: errno) }
    }
}

public struct PTYError: Error { public let errno: Int32 }

/// The size of a file in bytes, 0 when it does not exist.
public func fileSize(_ path: String) -> Int {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : 0
}

/// Removes a test's temporary folder and everything in it (rm -rf).
public func removeDirectory(_ path: String) {
    _ = try? ChildProcess("/bin/rm", ["-rf", path], output: "/dev/null").wait()
}

/// Writes `bytes` to `path` whole (created or truncated); whether it worked.
@discardableResult
public func writeBytes(_ path: String, _ bytes: [UInt8]) -> Bool {
    guard let f = fopen(path, "wb") else { return false }
    defer { fclose(f) }
    return fwrite(bytes, 1, bytes.count, f) == bytes.count
}
