import Board
import Glibc
import KernelTestSupport
import LinuxBoard
import Testing

/// A datagram socket bound where `$NOTIFY_SOCKET` will point (a path, or `@name`): systemd's end.
final class NotifyListener {
    let fd: Int32
    let name: String

    init(abstract: Bool = false) throws {
        let dir = temporaryDirectory("firmloop-notify")
        name = abstract ? "@firmloop-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" : dir + "/notify"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        var a = sockaddr_un()
        a.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if abstract { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &a.sun_path) { $0.copyBytes(from: bytes) }
        let len = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + bytes.count + (abstract ? 0 : 1))
        let r = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) } }
        try #require(r == 0, "bind \(name): errno \(errno)")
    }

    deinit { close(fd) }

    /// Every datagram queued now.
    func messages() -> [String] {
        var out: [String] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buf, buf.count, 0)
            if n < 0 { return out }
            out.append(String(decoding: buf[0..<n], as: UTF8.self))
        }
    }
}

@Suite struct ServiceTests {
    @Test func notifySendsOneDatagramPerMessageToAPathOrAnAbstractName() throws {
        for abstract in [false, true] {
            let l = try NotifyListener(abstract: abstract)
            let n = try SystemdNotify(socket: l.name)
            try n.send("READY=1\nSTATUS=online, seq 1, backlog 0")
            try n.send("WATCHDOG=1")
            #expect(l.messages() == ["READY=1\nSTATUS=online, seq 1, backlog 0", "WATCHDOG=1"], "\(l.name)")
        }
    }

    @Test func notifyIsMadeOnlyWhenSystemdAskedAndHonoursWatchdogPID() throws {
        func env(_ d: [String: String]) -> (String) -> String? { { d[$0] } }
        #expect(try SystemdNotify.fromEnvironment(env([:])) == nil)
        #expect(try SystemdNotify.fromEnvironment(env(["NOTIFY_SOCKET": ""])) == nil)
        let plain = try #require(try SystemdNotify.fromEnvironment(env(["NOTIFY_SOCKET": "/run/systemd/notify"])))
        #expect(plain.watchdogNanoseconds == nil)
        let ours = try #require(try SystemdNotify.fromEnvironment(env(["NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "3000000",
                                                                        "WATCHDOG_PID": "\(getpid())"])))
        #expect(ours.watchdogNanoseconds == 3_000_000_000)
        // The watchdog is meant for another process (a wrapper's child): not ours to ping.
        let other = try #require(try SystemdNotify.fromEnvironment(env(["NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "3000000",
                                                                         "WATCHDOG_PID": "\(getpid() + 1)"])))
        #expect(other.watchdogNanoseconds == nil)
        #expect(throws: BoardError.self) { try SystemdNotify.fromEnvironment(env(["NOTIFY_SOCKET": "relative/path"])) }
        #expect(throws: BoardError.self) { try SystemdNotify.fromEnvironment(env(["NOTIFY_SOCKET": "/" + String(repeating: "x", count: 200)])) }
    }

    /// `run` under a service manager: READY (with STATUS) once the firmware runs, WATCHDOG=1 at
    /// half of WATCHDOG_USEC from a kernel task, STOPPING=1 on a clean stop.
    @Test func runTellsSystemdReadyStatusWatchdogAndStopping() throws {
        let l = try NotifyListener()
        let dir = temporaryDirectory()
        let (status, out) = try firmloop(["run", "--board", "\(repositoryRoot)/boards/sim.json", "--duration", "3", "--device-id", "svc",
                                          "--outbox", dir + "/o.outbox", "--snapshot-interval", "200"],
                                         environment: ["NOTIFY_SOCKET": l.name, "WATCHDOG_USEC": "2000000"])
        #expect(status == 0, "\(out)")
        let m = l.messages()
        #expect(m.first?.hasPrefix("READY=1\nSTATUS=local, seq ") == true, "\(m)")   // no broker configured
        // STOPPING once; after it only watchdog pings (they go on through the clean stop's
        // grace period, so a slow stop is not taken for a hang).
        let stopping = try #require(m.firstIndex(of: "STOPPING=1"), "\(m)")
        #expect(m[(stopping + 1)...].allSatisfy { $0 == "WATCHDOG=1" }, "\(m)")
        let pings = m.filter { $0 == "WATCHDOG=1" }.count
        #expect((2...6).contains(pings), "\(m)")   // every 1 s for 3 s
        #expect(out.contains("systemd: notifying \(l.name), watchdog ping every 1000 ms"), "\(out)")

        // WATCHDOG_PID names another process: no pings, the rest as before.
        let l2 = try NotifyListener()
        let (status2, out2) = try firmloop(["run", "--board", "\(repositoryRoot)/boards/sim.json", "--duration", "2", "--device-id", "svc",
                                            "--outbox", dir + "/o.outbox"],
                                           environment: ["NOTIFY_SOCKET": l2.name, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"])
        #expect(status2 == 0, "\(out2)")
        let m2 = l2.messages()
        #expect(m2.first?.hasPrefix("READY=1") == true && m2.contains("STOPPING=1") && !m2.contains("WATCHDOG=1"), "\(m2)")
    }

    /// Issue 30: an outbox an SD card damaged does not keep the service down. Under a service
    /// manager the firmware starts anyway (READY=1, and exit 0 at the end: nothing for
    /// `Restart=on-failure` to loop on), says so at err and in STATUS, keeps the damaged copy;
    /// the next start puts nothing more aside and still reports it, until acknowledged.
    @Test func aDamagedOutboxDoesNotKeepTheServiceFromStarting() throws {
        let dir = temporaryDirectory()
        let outbox = dir + "/o.outbox"
        let args = ["run", "--board", "\(repositoryRoot)/boards/sim.json", "--duration", "2", "--device-id", "svc",
                    "--outbox", outbox, "--snapshot-interval", "100"]
        let (first, out0) = try firmloop(args)
        #expect(first == 0, "\(out0)")
        try OutboxDamage.truncatedMidFile.apply(to: outbox)
        for start in 1...2 {
            let l = try NotifyListener()
            let (status, out) = try firmloop(args, environment: ["NOTIFY_SOCKET": l.name], journalStream: true)
            #expect(status == 0, "start \(start): \(out)")
            let ready = l.messages().first ?? ""
            #expect(ready.hasPrefix("READY=1\nSTATUS=fault, seq ") && ready.contains("faults: outbox.damaged: damaged ("), "start \(start): \(ready)")
            let lines = out.split(separator: "\n")
            #expect(lines.contains { $0.hasPrefix("<3>outbox \(outbox): damaged (") && $0.contains("kept as \(outbox).damaged-") }, "\(out)")
            #expect(lines.contains { $0.hasPrefix("<3>fault: outbox.damaged: damaged (") }, "\(out)")
            #expect(files(in: dir, prefix: "o.outbox.damaged-").count == 1)
        }
    }

    /// Under journald each line carries its priority; the periodic status line is debug; a
    /// failure is an error. `--log-level` filters.
    @Test func logLinesCarryJournaldPrioritiesAndFollowTheLevel() throws {
        let dir = temporaryDirectory()
        let args = ["run", "--board", "\(repositoryRoot)/boards/sim.json", "--duration", "12", "--device-id", "log",
                    "--outbox", dir + "/o.outbox"]
        let (status, out) = try firmloop(args + ["--log-level", "debug"], journalStream: true)
        #expect(status == 0, "\(out)")
        let lines = out.split(separator: "\n")
        #expect(lines.allSatisfy { $0.hasPrefix("<6>") || $0.hasPrefix("<7>") }, "\(out)")
        #expect(lines.contains { $0.hasPrefix("<6>outbox \(dir)/o.outbox: ") }, "\(out)")
        #expect(lines.contains { $0.hasPrefix("<7>t=1") && $0.contains("s local  seq ") }, "\(out)")   // the status line, every 10 s

        // Without the journal: no prefixes; at warning, nothing of a clean run is written.
        let (status2, out2) = try firmloop(args.map { $0 == "12" ? "1" : $0 } + ["--log-level", "warning"])
        #expect(status2 == 0 && out2.isEmpty, "\(out2)")

        let (status3, out3) = try firmloop(["run", "--board", "\(repositoryRoot)/boards/raspberrypi-4b.json", "--outbox", dir + "/o.outbox"],
                                           journalStream: true)
        #expect(status3 == 1)
        #expect(out3.contains("<3>firmloop run: \(repositoryRoot)/boards/raspberrypi-4b.json: role 'status_led'"), "\(out3)")
        let (status4, out4) = try firmloop(["run", "--log-level", "loud"])
        #expect(status4 == 2 && out4.contains("--log-level loud: expected one of error, warning, info, debug"), "\(out4)")
    }

    /// The config file under the flags; systemd's StateDirectory= and LoadCredential= as defaults.
    @Test func configFileFlagsAndSystemdDirectoriesMakeTheEffectiveSettings() throws {
        let dir = temporaryDirectory()
        let conf = dir + "/firmloop.json"
        let text = #"{"board": "sim", "device_id": "from-file", "snapshot_interval": "2s", "log_level": "debug","#
            + #" "broker": "mqtt://127.0.0.1:1884"}"#
        #expect(writeFile(conf, text))
        let creds = temporaryDirectory()
        #expect(writeFile(creds + "/mqtt-password", "s3cret\n"))
        let env = ["STATE_DIRECTORY": dir + "/state", "CREDENTIALS_DIRECTORY": creds]
        let (status, out) = try firmloop(["config", "check", conf], environment: env)
        #expect(status == 0, "\(out)")
        #expect(out.contains("device_id         from-file"), "\(out)")
        #expect(out.contains("snapshot_interval 2000 ms"), "\(out)")
        #expect(out.contains("outbox            \(dir)/state/from-file.outbox") && out.contains("($STATE_DIRECTORY)"), "\(out)")
        #expect(out.contains("password_file     \(creds)/mqtt-password") && out.contains("($CREDENTIALS_DIRECTORY)"), "\(out)")
        #expect(out.contains("board file boards/sim.json: sim, roles "), "\(out)")
        #expect(out.contains("ha_discovery      off") && out.contains("ha_discovery_mode (discovery off)"), "\(out)")

        // Home Assistant: the file's mode, a flag over it.
        let ha = dir + "/ha.json"
        #expect(writeFile(ha, #"{"board": "sim", "ha_discovery": "ha", "ha_discovery_mode": "entity", "ha_support_url": "https://example.org/fw"}"#))
        let (s5, out5) = try firmloop(["config", "check", ha])
        #expect(s5 == 0 && out5.contains("ha_discovery      on, prefix ha") && out5.contains("ha_discovery_mode entity") && out5.contains("(\(ha))"), "\(out5)")
        let (s6, out6) = try firmloop(["run", "--config", ha, "--ha-discovery-mode", "device", "--duration", "1", "--outbox", dir + "/ha.outbox"])
        #expect(s6 == 0 && out6.contains("home assistant: discovery at ha/device/"), "\(out6)")
        let (s7, out7) = try firmloop(["run", "--config", ha, "--ha-discovery-mode", "both"])
        #expect(s7 == 2 && out7.contains("--ha-discovery-mode both: expected device or entity"), "\(out7)")

        // A flag wins over the file; the run says where its settings came from.
        let (status2, out2) = try firmloop(["run", "--config", conf, "--device-id", "from-flag", "--duration", "1",
                                            "--broker", "mqtt://127.0.0.1:1", "--outbox", dir + "/o.outbox"], environment: env)
        #expect(status2 == 0, "\(out2)")
        #expect(out2.contains("device 'from-flag', a snapshot every 2000 ms, settings from \(conf)"), "\(out2)")

        // Bad files fail with every problem, naming file, line and key.
        let bad = dir + "/bad.json"
        #expect(writeFile(bad, "{\n  \"broker\": \"http://x\",\n  \"outbox_capacity\": 0,\n  \"colour\": \"red\"\n}\n"))
        let (status3, out3) = try firmloop(["run", "--config", bad])
        #expect(status3 == 2)
        #expect(out3.contains("\(bad):2: broker: ") && out3.contains("\(bad):3: outbox_capacity: ") && out3.contains("\(bad):4: colour: unknown key"), "\(out3)")
        let (status4, out4) = try firmloop(["config", "check", dir + "/missing.json"])
        #expect(status4 == 2 && out4.contains("\(dir)/missing.json: cannot read the config file: No such file or directory"), "\(out4)")
    }
}

func writeFile(_ path: String, _ text: String) -> Bool {
    guard let f = fopen(path, "w") else { return false }
    defer { fclose(f) }
    return fputs(text, f) >= 0
}
