import Board
import Firmware
import Glibc
import Kernel
import LinuxBoard
import SimBoard
import TLS
import CBuildInfo

/// A value behind a lock, handed out of the kernel.
final class Locked<Value: Sendable>: Sendable {
    private let m: ThreadMutex<Value>
    init(_ v: Value) { m = ThreadMutex(v) }
    func get() -> Value { m.withLock { $0 } }
    func set(_ v: Value) { m.withLock { $0 = v } }
}

/// `firmloop run`: the firmware in real time, on the machine's GPIO and serial ports, or on the
/// simulated board (a board file whose devices are all simulated, such as boards/sim.json).
struct Run: Command {
    static let name = "run"
    static let abstract = "Run the firmware in real time: on this machine's GPIO and serial ports, or on the simulated board (boards/sim.json)."
    static let discussion = """
        Snapshots go to the outbox (on disk before they are offered to the network) and, with \
        --broker, to firmloop/<device-id>/snapshot; commands are taken on firmloop/<device-id>/cmd \
        and answered on …/ack; …/status is online/offline (retained). Ctrl-C or SIGTERM stops \
        cleanly: no more snapshots, what is in flight is given a moment, offline is published, \
        lines are released.
        """
    static let parameters: [Parameter] = [
        .option("config", help: "Config file (JSON, e.g. /etc/firmloop/firmloop.json; `firmloop config check` validates it). Flags given here win over it."),
        .option("board", help: "Board file, or the name of an installed one (raspberrypi-4b). Default: boards/sim.json."),
        .option("broker", help: "MQTT broker, mqtt://HOST[:1883] or mqtts://HOST[:8883] (TLS) (none: snapshots wait in the outbox)."),
        .option("device-id", help: "Device id (one MQTT topic level). Default: the host name."),
    ] + SnapshotOptions.parameters + [
        .option("outbox", help: "The outbox file. Default: $STATE_DIRECTORY/<device-id>.outbox under systemd, else $XDG_STATE_HOME (or ~/.local/state)/firmloop/<device-id>.outbox"),
        .option("username", help: "MQTT user name."),
        .option("password-file", help: "File holding the MQTT password (first line). Default under systemd: $CREDENTIALS_DIRECTORY/mqtt-password when present."),
        .option("cafile", help: "mqtts:// only: PEM file of the CA certificates to trust. Default: the system's store."),
        .option("cert", help: "mqtts:// only: PEM client certificate (for a broker with require_certificate); needs --key."),
        .option("key", help: "mqtts:// only: the client certificate's PEM private key."),
        .option("ha-discovery", implicit: HomeAssistantDiscovery.defaultPrefix,
                help: "Announce the device to Home Assistant (MQTT discovery) under PREFIX; the PREFIX may be left out (homeassistant).",
                valueName: "PREFIX"),
        .option("ha-discovery-mode", help: "device: one discovery message per device (Home Assistant 2024.11 and later, the default); entity: one per entity (older Home Assistant).",
                valueName: "MODE"),
        .option("log-level", help: "Least important log lines written: \(LogLevel.names). Default: info."),
        .option("duration", help: "Stop after this many seconds (0: run until Ctrl-C).", default: "0"),
        .option("nmea-replay", help: "Simulated board only: an NMEA log (gpsd's format) to replay on the GPS UART."),
        .option("seed", help: "Simulated board only: seed for the world's noise and button presses.", default: "1"),
    ]

    var config, board, broker, deviceId, outbox, username, passwordFile, cafile, cert, key: String?
    var haDiscovery, haDiscoveryMode, logLevel, nmeaReplay: String?
    var snapshots: SnapshotOptions
    var duration = 0
    var seed: UInt64 = 1

    init(_ a: ParsedArguments) throws(UsageError) {
        (config, board, broker, deviceId) = (a.string("config"), a.string("board"), a.string("broker"), a.string("device-id"))
        (outbox, username, passwordFile) = (a.string("outbox"), a.string("username"), a.string("password-file"))
        (cafile, cert, key) = (a.string("cafile"), a.string("cert"), a.string("key"))
        (haDiscovery, haDiscoveryMode) = (a.string("ha-discovery"), a.string("ha-discovery-mode"))
        (logLevel, nmeaReplay) = (a.string("log-level"), a.string("nmea-replay"))
        snapshots = try SnapshotOptions(a)
        duration = try a.int("duration") ?? duration
        seed = try a.uint64("seed") ?? seed
    }

    var flags: RunSettings.Flags {
        RunSettings.Flags(config: config, board: board, broker: broker, deviceID: deviceId, outbox: outbox,
                          username: username, passwordFile: passwordFile, caFile: cafile, certFile: cert, keyFile: key, snapshotInterval: snapshots.snapshotInterval,
                          outboxCapacity: snapshots.outboxCapacity, logLevel: logLevel,
                          haPrefix: haDiscovery, haMode: haDiscoveryMode)
    }

    /// What `run` starts from: the settings resolved, the board file and its world, the
    /// firmware's config, systemd's socket and the TLS context.
    struct Prepared: Sendable {
        var settings: RunSettings
        var desc: BoardDescription
        var config: FirmwareConfig
        /// The simulated board's world (nil on a real board).
        var world: WorldConfig?
        var notify: SystemdNotify?
        var tls: TLSContext?
    }

    func run() throws {
        let p: Prepared
        do { p = try prepare() } catch {
            Logger(level: .error).error("firmloop run: \(error)")
            throw ExitCode(2)
        }
        let log = Logger(level: p.settings.logLevel)
        let box: Outbox
        do { box = try Outbox(path: p.settings.outbox, capacity: p.settings.outboxCapacity, seqMarker: Snapshot.seqMarker) } catch {
            log.error("firmloop run: \(error)")
            throw ExitCode(1)
        }
        // Outputs with "restore": true start at their last commanded value, before any task runs.
        let saved = (try? box.outputs.valuesNow()) ?? [:]
        let board = p.desc.restoring(saved)
        let stop = StopSignal.install()
        let restored = board.roles.filter { ($0.line?.restore == true || $0.pwm?.restore == true) && saved[$0.name] != nil }
            .map { r in (r.name, r.kind == .pwm ? "duty \(saved[r.name]!)" : saved[r.name]! != 0 ? "on" : "off") }
        Self.logStart(p, box, restored: restored,
                      seed: seed, seconds: duration, log)
        let failed = Locked<String?>(nil)
        let options = KernelOptions(onOverBudget: { log.warning("kernel: \($0)") },
                                    onFinish: { stats in if failed.get() == nil { printStats(stats) { log.debug($0) } } })
        let (seconds, seed) = (duration, self.seed)
        do { try Kernel.run(options) {
            try await Self.runFirmware(p, board: board, box, seed: seed, seconds: seconds, stop: stop, failed: failed, log)
        } } catch is Stop {}
        if let f = failed.get() {
            log.error("firmloop run: \(f)")
            throw ExitCode(1)
        }
    }

    /// The flags and the config file resolved and checked; a problem is thrown (exit 2).
    private func prepare() throws -> Prepared {
        if let p = snapshots.problem { throw ConfigError(p) }
        let settings = try RunSettings.resolve(flags)
        let desc = try BoardDescription.load(path: settings.board)
        var w = try WorldConfig.parse(desc)   // also checks a real board's "sim" section
        let config = try settings.firmwareConfig(seed: seed)
        var world: WorldConfig?
        if SimHardware.isSimulated(desc) {
            // Real time, real date: the world's "start" is for virtual-time simulations.
            w.startUnixNanoseconds = RealtimeClock.now()
            world = w
        }
        if let path = nmeaReplay {
            guard SimHardware.isSimulated(desc) else { throw ConfigError("--nmea-replay is for the simulated board; \(desc.file) is a real one") }
            guard desc.role(config.gpsRole)?.kind == .serial else { throw ConfigError("--nmea-replay \(path): \(desc.file) has no '\(config.gpsRole)' serial role") }
            guard let bytes = readFileBytes(path) else { throw ConfigError("--nmea-replay \(path): cannot read it") }
            let epochs = UARTSourceConfig.nmeaEpochs(bytes)
            guard !epochs.isEmpty else { throw ConfigError("--nmea-replay \(path): no NMEA sentences in it") }
            w.uarts[config.gpsRole, default: UARTSourceConfig()].epochs = epochs
            world = w
        }
        return Prepared(settings: settings, desc: desc, config: config, world: world, notify: try SystemdNotify.fromEnvironment(),
                        tls: settings.broker?.tls == true ? try TLSContext(settings.tls) : nil)
    }

    /// What the operator should know before the firmware starts: the board, what a restart
    /// inherits from the outbox (and its damage), the broker and how to watch it, the restored
    /// outputs, discovery, systemd.
    private static func logStart(_ p: Prepared, _ box: Outbox, restored: [(String, String)], seed: UInt64, seconds: Int, _ log: Logger) {
        let (desc, cfg, settings) = (p.desc, p.config, p.settings)
        log.info("firmloop run: \(desc.board) (\(desc.file)) " + (SimHardware.isSimulated(desc) ? "simulated in real time, seed \(seed)" : "on this machine")
            + ", device '\(cfg.deviceID)', a snapshot every \(cfg.snapshotIntervalMilliseconds) ms" + (settings.config.map { ", settings from \($0)" } ?? ""))
        // What a restart inherits: snapshots still waiting for the broker, and where numbering goes on.
        if let c = try? box.countsNow() {
            log.info("outbox \(settings.outbox): \(c.pending) waiting, next seq \(c.nextSeq) (epoch \(c.epoch))" + (c.dropped > 0 ? ", \(c.dropped) dropped when full" : ""))
        }
        // Damage found now or at an earlier start, until acknowledged (also a fault, in every snapshot).
        for d in box.damageNow() {
            log.error("outbox \(settings.outbox): \(d)" + (d.check.map { "; quick_check: \($0)" } ?? "")
                + "; {\"clear_fault\":\"outbox.damaged\"} on …/cmd acknowledges it")
        }
        if let b = cfg.broker {
            let tlsFlags = b.tls ? (settings.tls.caFile.map { " --cafile \($0)" } ?? " --capath /etc/ssl/certs") : ""
            log.info("broker \(b); watch with: mosquitto_sub -h \(b.host) -p \(b.port)\(tlsFlags) -t 'firmloop/\(cfg.deviceID)/#' -v")
        } else {
            log.info("no broker: snapshots are stored in the outbox and wait there")
        }
        if !restored.isEmpty {
            log.info("restored from the outbox: " + restored.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        }
        if let ha = cfg.homeAssistant {
            log.info("home assistant: discovery at " + (ha.mode == .device ? ha.deviceTopic(device: cfg.deviceID)
                : "\(ha.prefix)/<component>/\(HomeAssistantDiscovery.sanitize(cfg.deviceID))/…/config"))
        }
        if let n = p.notify {
            log.info("systemd: notifying \(n.socket)" + (n.watchdogNanoseconds.map { ", watchdog ping every \($0 / 2_000_000) ms" } ?? ", no watchdog"))
        }
        log.info(seconds > 0 ? "running for \(seconds) s" : "Ctrl-C stops (or SIGTERM)")
    }

    /// On the kernel: the board opened (a failure is `failed`, exit 1), the firmware run with
    /// its status line, systemd's notifications and the stop (a signal or `seconds`), then the
    /// final status, the MQTT figures and the faults left.
    @KernelActor
    private static func runFirmware(_ p: Prepared, board: BoardDescription, _ box: Outbox, seed: UInt64, seconds: Int, stop: Signal,
                                    failed: Locked<String?>, _ log: Logger) async throws {
        let (cfg, notify) = (p.config, p.notify)
        let b: any Hardware
        do {
            if SimHardware.isSimulated(p.desc) {
                // The board alone: the broker is real (below), not the simulated world's.
                let s = try SimHardware(board, seed: seed, world: p.world)
                s.start()
                b = s
            } else {
                b = try LinuxHardware(board)
            }
        } catch {
            failed.set("\(p.desc.file): \(error)")
            throw Stop()
        }
        defer { b.close() }
        // The status line: redrawn in place on a terminal, else a debug line every 10 s.
        let tty = isatty(1) != 0 && !log.format.priorityPrefix
        // The broker is real (TCP) on every board: the simulated one simulates devices.
        let network: any Network = p.tls.map { TLSNetwork(over: LinuxNetwork(), context: $0) } ?? LinuxNetwork()
        // Under systemd, where the update installer is (firmloop-update.service): its results.
        var firmware = FirmloopCommand.firmware.withLock { $0 }
        if let state = nonEmptyEnvironment("STATE_DIRECTORY").map({ String($0.split(separator: ":")[0]) }) {
            let policy = p.settings.update
            firmware = firmware.adding { Updates(stateDirectory: state, policy: policy, version: String(cString: firmloop_build_version())) }
        }
        let fw = Device(board: b, config: cfg, outbox: box, network: network, firmware: firmware)
        fw.onLog = { level, line in
            if tty { say("\r\u{1B}[K", newline: false) }
            log(level, line)
        }
        let t0 = Kernel.now
        do {
            try await withGroup("run") { g in
                g.spawn("firmware") { try await fw.run() }
                g.spawn("status") {
                    let t = every(ms: 1000)
                    while true {
                        let n = try await t.tick()
                        guard tty || n % 10 == 0 else { continue }
                        let line = fw.statusLine(seconds: (Kernel.now - t0) / 1_000_000_000)
                        if tty { say("\r\u{1B}[K" + line, newline: false) } else { log.debug(line) }
                    }
                }
                if let notify { Service.spawn(in: g, notify, fw, log) }
                g.spawn("stop") {
                    do { try await stopOn(stop, after: seconds) } catch is Stop {}
                    if tty { say("") }
                    log.info("stopping: no more snapshots; waiting up to \(cfg.stopGraceMilliseconds) ms for what is in flight")
                    if let notify { Service.send(notify, "STOPPING=1", log) }
                    await fw.stop()
                    throw Stop()
                }
            }
        } catch is Stop {}
        if tty { say("") }
        log.info(fw.statusLine(seconds: (Kernel.now - t0) / 1_000_000_000))
        if let c = fw.client {
            let s = c.stats
            log.info("mqtt: \(s.connects) connects, \(s.connectFailures) failed, \(s.published) published, \(s.resent) re-sent, \(s.acked) acked, \(s.received) received, \(s.protocolErrors) protocol errors")
        }
        for (part, f) in fw.faults.sorted(by: { $0.key < $1.key }) { log.error("fault: \(part): \(f.error) (since \(iso8601(unixNanoseconds: f.since)))") }
    }
}

/// The snapshot options `run` and `simulate` share (nil: not given; `run` may take them from
/// its config file).
struct SnapshotOptions {
    static let parameters: [Parameter] = [
        .option("snapshot-interval", help: "Milliseconds between snapshots. Default: 5000."),
        .option("outbox-capacity", help: "Most snapshots the outbox keeps; when full, the oldest are dropped (counted). Default: 100000."),
    ]
    var snapshotInterval: Int?
    var outboxCapacity: Int?

    init(_ a: ParsedArguments) throws(UsageError) {
        snapshotInterval = try a.int("snapshot-interval")
        outboxCapacity = try a.int("outbox-capacity")
    }

    /// What is wrong with them, or nil (the commands report it and exit 2, as for a bad file).
    var problem: String? {
        if let i = snapshotInterval, !(10...86_400_000).contains(i) { return "--snapshot-interval \(i): expected 10 to 86400000 ms" }
        if let c = outboxCapacity, c < 1 { return "--outbox-capacity \(c): expected at least 1" }
        return nil
    }
}


func hostName() -> String {
    var buf = [CChar](repeating: 0, count: 256)
    guard gethostname(&buf, 255) == 0 else { return "firmloop" }
    let name = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    // A host name is a valid id unless it has characters a topic level should not.
    return FirmwareConfig.problem(deviceID: name) == nil ? name : "firmloop"
}

/// $XDG_STATE_HOME/firmloop/<id>.outbox, else ~/.local/state/firmloop/<id>.outbox (made if missing).
func defaultOutboxPath(device: String) -> String {
    let env = { (k: String) -> String? in getenv(k).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } }
    let base = env("XDG_STATE_HOME") ?? (env("HOME").map { $0 + "/.local/state" } ?? "/tmp")
    var path = ""
    for part in (base + "/firmloop").split(separator: "/") {
        path += "/" + part
        mkdir(path, 0o755)
    }
    return "\(path)/\(device).outbox"
}
