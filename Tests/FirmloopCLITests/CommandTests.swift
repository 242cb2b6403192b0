import Board
import CSystem
import CTestSupport
import Glibc
import KernelTestSupport
import LinuxBoard
import Testing

/// Runs the `firmloop` built beside this test binary; returns (exit status, stdout + stderr).
/// `when` runs once the output contains its marker (the tool is ready for input).
/// `interrupt`: SIGINT (a user's Ctrl-C) once the output holds that text that many times.
///
/// It takes the kernel turn: a child between fork and exec holds copies of this process's
/// descriptors, which must not overlap with the serial tests opening and closing ports.
/// `environment`: variables set for the child on top of this process's.
/// `journalStream`: set `$JOURNAL_STREAM` to the output pipe's device:inode, as systemd does.
func firmloop(_ args: [String], environment: [String: String] = [:], journalStream: Bool = false,
              when: (marker: String, action: () -> Void)? = nil,
              interrupt: (marker: String, count: Int)? = nil) throws -> (status: Int32, output: String) {
    try withKernelTurn { try spawnFirmloop(args, environment: environment, journalStream: journalStream, when: when, interrupt: interrupt) }
}

private func spawnFirmloop(_ args: [String], environment: [String: String], journalStream: Bool,
                           when: (marker: String, action: () -> Void)?,
                           interrupt: (marker: String, count: Int)?) throws -> (status: Int32, output: String) {
    let tool = firmloopExecutable
    try #require(access(tool, X_OK) == 0, "\(tool) not built")
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2)
    let argv = ([tool] + args).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var extra = environment
    if journalStream {
        var st = stat()
        fstat(fds[1], &st)
        extra["JOURNAL_STREAM"] = "\(st.st_dev):\(st.st_ino)"
    }
    var inherited: [String] = []
    var p = environ
    while let e = p.pointee {
        let entry = String(cString: e)
        if !extra.keys.contains(String(entry.prefix { $0 != "=" })) { inherited.append(entry) }
        p += 1
    }
    let envp = (inherited + extra.map { "\($0.key)=\($0.value)" }).map { strdup($0) } + [nil]
    defer { envp.forEach { free($0) } }
    var pid: pid_t = 0
    let r = posix_spawn(&pid, tool, &actions, nil, argv, envp)
    posix_spawn_file_actions_destroy(&actions)
    close(fds[1])
    try #require(r == 0)
    var out: [UInt8] = []
    var buf = [UInt8](repeating: 0, count: 4096)
    var pending = when
    while true {
        let k = read(fds[0], &buf, buf.count)
        if k <= 0 { break }
        out += buf[0..<k]
        let text = String(decoding: out, as: UTF8.self)
        if let w = pending, text.contains(w.marker) {
            pending = nil
            w.action()
        }
        if let i = interrupt, occurrences(of: i.marker, in: text) >= i.count {
            kill(pid, SIGINT)
        }
    }
    close(fds[0])
    var status: Int32 = 0
    waitpid(pid, &status, 0)
    return ((status >> 8) & 0xFF, String(decoding: out, as: UTF8.self))
}

@Suite struct CommandTests {
    @Test func runOnAMachineWithoutTheBoardsChipFailsAtOnceNamingTheLine() throws {
        let (status, out) = try firmloop(["run", "--board", "\(repositoryRoot)/boards/raspberrypi-4b.json"])
        #expect(status == 1)
        #expect(out.contains("/boards/raspberrypi-4b.json: role 'status_led': "), "\(out)")
        #expect(out.contains("GPIO17") && out.contains("pinctrl-bcm2711"), "\(out)")
    }

    /// Issue 12: a user moving from bookworm (libgpiod v1) to trixie (v2) can tell which one a
    /// build uses. Runs on both builds (make test builds the v2 one too).
    @Test func probeAndVersionNameTheLibgpiodBackend() throws {
        let (status, out) = try firmloop(["--version"])
        #expect(status == 0)
        let lines = out.split(separator: "\n")
        #expect(lines.first?.hasPrefix("firmloop ") == true, "\(out)")
        #expect(lines.contains { $0 == "GPIO through \(GPIOChip.backend)" }, "\(out)")
        let (_, probe) = try firmloop(["probe"])
        #expect(probe.hasPrefix("GPIO backend: libgpiod v"), "\(probe)")
        #if FIRMLOOP_GPIOD_V2
        #expect(probe.hasPrefix("GPIO backend: libgpiod v2 ("), "\(probe)")
        #else
        #expect(probe.hasPrefix("GPIO backend: libgpiod v1 ("), "\(probe)")
        #endif
    }

    @Test func probeSaysWhatIsMissingAndExitsNonZero() throws {
        let (status, out) = try firmloop(["probe", "--board", "\(repositoryRoot)/boards/host-serial.json"])
        #expect(status == 1)
        #expect(out.contains("gps_uart") && out.contains("/dev/ttyUSB0"), "\(out)")
    }

    /// Issue 16 (cosmetic): a port that went away was reported as ArgumentParser's "Error: …".
    @Test func uartSaysAsItselfThatThePortWentAway() throws {
        var name = [CChar](repeating: 0, count: 128)
        let m = fl_openpty(&name, 128)
        try #require(m >= 0)
        let path = String(cString: name)
        let (status, out) = try firmloop(["uart", path, "--baud", "9600", "--seconds", "60"], when: ("9600 8N1;", { close(m) }))
        #expect(status == 1, "\(out)")
        #expect(out.contains("firmloop uart: read failed for \(path) (the device or its other end went away)"), "\(out)")
        #expect(!out.contains("Error:"), "\(out)")
    }

    @Test func uartWithNMEAPrintsOneJSONLinePerFix() throws {
        var name = [CChar](repeating: 0, count: 128)
        let m = fl_openpty(&name, 128)
        try #require(m >= 0)
        defer { close(m) }
        // The log without gpsd's comment lines, written once the tool says the port is open
        // (opening flushes what was queued before).
        let file = try #require(readFileBytes("\(repositoryRoot)/boards/nmea/neo-m8n.log"))
        let bytes = Array(file.split(separator: 0x0A, omittingEmptySubsequences: false).filter { $0.first != UInt8(ascii: "#") }
            .joined(separator: [0x0A]).prefix(3000))
        let (status, out) = try firmloop(["uart", String(cString: name), "--baud", "9600", "--nmea", "--seconds", "60"],
                                         when: ("9600 8N1;", { _ = bytes.withUnsafeBytes { write(m, $0.baseAddress, $0.count) } }),
                                         interrupt: ("{\"mode\"", 3))
        #expect(status == 0, "\(out)")
        let fixes = out.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(fixes.first == #"{"mode":2,"lat":44.069011,"lon":-121.314246833,"alt":null,"speed":null,"track":null,"time":"17:19:25.00","sats":null,"hdop":null}"#)
        #expect(fixes.count >= 3)
        #expect(out.contains("bad sentences 0"), "\(out)")
    }
}


func occurrences(of needle: String, in text: String) -> Int {
    let n = Array(needle.utf8), t = Array(text.utf8)
    guard !n.isEmpty, t.count >= n.count else { return 0 }
    return (0...(t.count - n.count)).filter { t[$0..<($0 + n.count)].elementsEqual(n) }.count
}
