import Board
import Firmware
import Glibc
import CBuildInfo
import TLS
import Update

/// What `firmloop run` will use, each setting with where it came from: a flag, the config file,
/// the service manager's environment (`$STATE_DIRECTORY`, `$CREDENTIALS_DIRECTORY`) or the
/// built-in default, in that order. `firmloop config check` prints it.
struct RunSettings {
    /// The config file read, if any.
    var config: String?
    var board = "boards/sim.json"
    var broker: BrokerAddress?
    var deviceID = ""
    var snapshotIntervalMilliseconds = 5000
    var outbox = ""
    var outboxCapacity = 100_000
    var username: String?
    var passwordFile: String?
    /// For an mqtts:// broker.
    var tls = TLSSettings()
    var logLevel = LogLevel.info
    var homeAssistant: HomeAssistantDiscovery?
    /// Over-the-air updates (the config file's update_key, update_cafile, update_max_bytes).
    var update = UpdatePolicy()
    /// Setting name → where its value came from.
    var origin: [String: String] = [:]

    /// The flags `run` takes for these settings (nil: not given).
    struct Flags {
        var config, board, broker, deviceID, outbox, username, passwordFile: String?
        var caFile, certFile, keyFile: String?
        var snapshotInterval, outboxCapacity: Int?
        var logLevel: String?
        /// `--ha-discovery [PREFIX]`, `--ha-discovery-mode device|entity`.
        var haPrefix: String?
        var haMode: String?
    }

    /// The settings from `flags`, over the config file they name, over the environment's and the
    /// built-in defaults. Errors name the flag, or the file, line and key.
    static func resolve(_ flags: Flags, env: (String) -> String? = nonEmptyEnvironment) throws -> RunSettings {
        var s = RunSettings()
        s.config = flags.config
        let file = try flags.config.map { try ConfigFile.load(path: $0) }
        let fileName = flags.config ?? ""
        func pickOptional<T>(_ key: String, _ flag: T?, _ fromFile: T?, _ fallback: @autoclosure () -> T?,
                             _ fallbackOrigin: String = "default") -> T? {
            if let flag { s.origin[key] = "flag"; return flag }
            if let fromFile { s.origin[key] = fileName; return fromFile }
            s.origin[key] = fallbackOrigin
            return fallback()
        }
        func pick<T>(_ key: String, _ flag: T?, _ fromFile: T?, _ fallback: @autoclosure () -> T, _ fallbackOrigin: String = "default") -> T {
            pickOptional(key, flag, fromFile, fallback(), fallbackOrigin) ?? fallback()
        }
        s.board = try resolveBoard(pick("board", flags.board, file?.board, s.board))
        let broker = try flags.broker.map { try BrokerAddress.parse($0) }
        s.broker = pickOptional("broker", broker, file?.broker, nil)
        if let id = flags.deviceID, let p = FirmwareConfig.problem(deviceID: id) { throw ConfigError(p) }
        s.deviceID = pick("device_id", flags.deviceID, file?.deviceID, hostName(), "host name")
        s.snapshotIntervalMilliseconds = pick("snapshot_interval", flags.snapshotInterval, file?.snapshotIntervalMilliseconds, s.snapshotIntervalMilliseconds)
        s.outboxCapacity = pick("outbox_capacity", flags.outboxCapacity, file?.outboxCapacity, s.outboxCapacity)
        // systemd's StateDirectory= (a list when several are given: the first is ours).
        let state = env("STATE_DIRECTORY").map { String($0.split(separator: ":").first ?? "") }
        s.outbox = pick("outbox", flags.outbox, file?.outbox,
                        state.map { "\($0)/\(s.deviceID).outbox" } ?? defaultOutboxPath(device: s.deviceID),
                        state == nil ? "default" : "$STATE_DIRECTORY")
        s.username = pickOptional("username", flags.username, file?.username, nil)
        // systemd's LoadCredential=mqtt-password:FILE puts it in $CREDENTIALS_DIRECTORY.
        let credential = env("CREDENTIALS_DIRECTORY").map { $0 + "/mqtt-password" }.flatMap { (p: String) -> String? in access(p, R_OK) == 0 ? p : nil }
        s.passwordFile = pickOptional("password_file", flags.passwordFile, file?.passwordFile, credential,
                              credential == nil ? "default" : "$CREDENTIALS_DIRECTORY")
        s.tls.caFile = pickOptional("cafile", flags.caFile, file?.caFile, nil)
        s.tls.certFile = pickOptional("cert", flags.certFile, file?.certFile, nil)
        s.tls.keyFile = pickOptional("key", flags.keyFile, file?.keyFile, nil)
        if s.tls != TLSSettings(), s.broker?.tls != true {
            throw ConfigError("cafile, cert and key are for an mqtts:// broker; the broker is \(s.broker?.description ?? "not set")")
        }
        let level = try flags.logLevel.map { l throws -> LogLevel in
            guard let level = LogLevel(name: l) else { throw ConfigError("--log-level \(l): expected one of \(LogLevel.names)") }
            return level
        }
        s.logLevel = pick("log_level", level, file?.logLevel, s.logLevel)
        if let p = flags.haPrefix, let why = HomeAssistantDiscovery.problem(prefix: p) {
            throw ConfigError("--ha-discovery \(p): \(why)")
        }
        let ha = flags.haPrefix.map { HomeAssistantDiscovery(prefix: $0) }
        s.homeAssistant = pickOptional("ha_discovery", ha, file?.homeAssistant, nil)
        let mode = try flags.haMode.map { m throws -> HomeAssistantDiscovery.Mode in
            guard let mode = HomeAssistantDiscovery.Mode(rawValue: m) else { throw ConfigError("--ha-discovery-mode \(m): expected device or entity") }
            return mode
        }
        // Picked first: `pick` records the origin in `s`, which must not be under modification.
        let pickedMode = pick("ha_discovery_mode", mode, file?.homeAssistantMode, .device)
        let supportURL = pickOptional("ha_support_url", nil, file?.homeAssistantSupportURL, nil)
        s.homeAssistant?.mode = pickedMode
        s.homeAssistant?.supportURL = supportURL
        s.update.keyPath = pick("update_key", nil, file?.updateKey, s.update.keyPath)
        s.update.caFile = pickOptional("update_cafile", nil, file?.updateCAFile, nil)
        s.update.maxBytes = pick("update_max_bytes", nil, file?.updateMaxBytes, s.update.maxBytes)
        return s
    }

    /// `key: value  (origin)` lines, for `firmloop config check`.
    var lines: [String] {
        let rows: [(String, String)] = [
            ("board", board),
            ("broker", broker?.description ?? "(none: snapshots wait in the outbox)"),
            ("device_id", deviceID),
            ("snapshot_interval", "\(snapshotIntervalMilliseconds) ms"),
            ("outbox", outbox),
            ("outbox_capacity", "\(outboxCapacity)"),
            ("username", username ?? "(none)"),
            ("password_file", passwordFile ?? "(none)"),
            ("cafile", tls.caFile ?? (broker?.tls == true ? "(the system's CA store)" : "(none)")),
            ("cert", tls.certFile ?? "(none)"),
            ("key", tls.keyFile ?? "(none)"),
            ("log_level", logLevel.description),
            ("ha_discovery", homeAssistant.map { "on, prefix \($0.prefix)" } ?? "off"),
            ("ha_discovery_mode", homeAssistant.map { $0.mode.rawValue } ?? "(discovery off)"),
            ("update_key", update.keyPath),
            ("update_cafile", update.caFile ?? "(the system's CA store)"),
            ("update_max_bytes", "\(update.maxBytes)"),
        ]
        return rows.map { k, v in "\(k.padding(18))\(v.padding(44))  (\(origin[k] ?? "default"))" }
    }

    /// The firmware's configuration from these settings (reads the password file).
    func firmwareConfig(seed: UInt64) throws -> FirmwareConfig {
        var c = FirmwareConfig(deviceID: deviceID)
        c.snapshotIntervalMilliseconds = snapshotIntervalMilliseconds
        c.broker = broker
        c.username = username
        if let f = passwordFile {
            guard let text = readTextFile(f, limit: 4096) else {
                throw ConfigError("password file \(f) (\(origin["password_file"] ?? "")): cannot read it: \(String(cString: strerror(errno)))")
            }
            c.password = Array((text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "").utf8)
        }
        c.seed = seed
        c.homeAssistant = homeAssistant
        c.softwareVersion = "firmloop " + String(cString: firmloop_build_version())
        return c
    }
}

/// A board file path as given, or for a bare name ("raspberrypi-4b") the installed board file:
/// `boards/NAME.json` here (a checkout), else `<prefix>/share/firmloop/boards/NAME.json` beside
/// the installed binary (`make install`).
func resolveBoard(_ board: String) throws -> String {
    guard ConfigFile.isBoardName(board) else { return board }
    var candidates = ["boards/\(board).json"]
    if let exe = executablePath(), let bin = exe.lastIndex(of: "/") {
        let prefix = exe[..<bin].hasSuffix("/bin") ? String(exe[..<bin].dropLast(4)) : String(exe[..<bin])
        candidates.append("\(prefix)/share/firmloop/boards/\(board).json")
    }
    guard let found = candidates.first(where: { access($0, R_OK) == 0 }) else {
        throw ConfigError("board '\(board)': no board file of that name (looked for \(candidates.joined(separator: " and ")))")
    }
    return found
}

func executablePath() -> String? {
    var buf = [CChar](repeating: 0, count: 4096)
    let n = readlink("/proc/self/exe", &buf, buf.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// An environment variable, nil when unset or empty.
func nonEmptyEnvironment(_ name: String) -> String? {
    getenv(name).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
}

/// `firmloop config check FILE`: validates a config file and prints the effective settings.
struct Config: Command {
    static let name = "config"
    static let abstract = "Check a config file for `firmloop run --config`."
    static let subcommands: [any Command.Type] = [Check.self]
    init(_ a: ParsedArguments) {}
    func run() throws {}

    struct Check: Command {
        static let name = "check"
        static let abstract = "Validate FILE (unknown keys, bad values, the board file it names) and print the settings `run` would use."
        static let discussion = "Exit 0 when it is valid, 2 with every problem (file, line, key) when it is not."
        static let parameters: [Parameter] = [.argument("file", help: "The config file, e.g. /etc/firmloop/firmloop.json.")]
        var file: String

        init(_ a: ParsedArguments) { file = a.required("file") }

        func run() throws {
            do {
                let s = try RunSettings.resolve(.init(config: file))
                let desc = try BoardDescription.load(path: s.board)
                if s.broker?.tls == true {   // the CA, certificate and key files load
                    do { _ = try TLSContext(s.tls) } catch { throw ConfigError("\(file): \(error)") }
                }
                say("\(file): valid; firmloop run --config \(file) would use:")
                for l in s.lines { say("  " + l) }
                say("  board file \(desc.file): \(desc.board), roles \(desc.roles.map(\.name).joined(separator: ", "))")
            } catch {
                writeErr("firmloop config check: \(error)\n")
                throw ExitCode(2)
            }
        }
    }
}
