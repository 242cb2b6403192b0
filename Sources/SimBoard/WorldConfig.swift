import Board
import Glibc
import Kernel

/// A simulated world as a board file's "sim" section describes it (all optional):
///
///     "sim": {
///       "start": "2026-01-01T00:00:00Z",
///       "inputs":  {"button": {"presses": [{"at": "5s", "hold": "300ms"}], "presses_per_hour": 4,
///                              "hold": "200ms", "bounce": "8ms"}},
///       "uarts":   {"gps_uart": {"nmea": "nmea/neo-m8n.log", "rate_hz": 1, "loop": true,
///                                "byte_error_rate": 1e-5, "garbage_per_hour": 6, "rx_trigger": 16}},
///       "network": {"broker": "127.0.0.1:1883", "latency": "20ms", "jitter": "10ms", "loss": 0.001,
///                   "refuse": 0.01, "resets_per_hour": 0.5, "outages": [{"at": "2h", "for": "30s"}],
///                   "outages_per_day": 2, "outage_length": "45s"},
///       "values":  {"probe": {"base": 21.5, "swing": 3, "period": "24h", "noise": 0.05}},
///       "i2c":     {"climate": {"temperature": {"base": 21, "swing": 4}, "humidity": {…}, "pressure": {…},
///                               "silent": [{"at": "3h", "for": "2m"}]},
///                   "adc":     {"inputs": {"0": {"base": 1.65, "swing": 0.5, "period": "1h"}}}}
///     }
///
/// Paths are relative to the board file. Any board file can be simulated: roles without a
/// "sim" entry get an idle input, a silent UART, a perfect network.
public struct WorldConfig: Sendable {
    public struct Press: Sendable { public var at: Int64; public var hold: Int64; public var bounce: Int64 }
    public struct InputScript: Sendable {
        public var presses: [Press] = []
        public var pressesPerHour = 0.0
        public var hold: Int64 = 200_000_000
        public var bounce: Int64 = 5_000_000
    }

    public var startUnixNanoseconds: Int64 = 1_767_225_600_000_000_000   // 2026-01-01T00:00:00Z
    public var inputs: [String: InputScript] = [:]
    public var uarts: [String: UARTSourceConfig] = [:]
    public var network = NetworkFaults()
    public var values: [String: SimValue.Config] = [:]
    public var i2c: [String: I2CWorld] = [:]
    /// `sim.i2c.<role>`: what the device at the role's address reads (by its driver's chip:
    /// a BME280's weather, an ADS1115's inputs) and when it does not answer.
    public struct I2CWorld: Sendable {
        public var weather = SimBME280.Weather()
        public var inputs: [Int: SimCurve] = [:]
        /// (from, length), kernel time since the world started.
        public var silent: [(at: Int64, length: Int64)] = []
        public init() {}
    }
    /// `"tls": {"cert": …, "key": …, "ca": …}` in "network": the broker speaks MQTT over TLS
    /// (its certificate and key), and the simulated device trusts `ca`. Paths are absolute here.
    public var brokerTLS: BrokerTLS?
    public struct BrokerTLS: Sendable, Equatable {
        public var cert, key, ca: String
    }
    /// Where the in-process broker listens ("*:1883": any host, port 1883).
    public var brokerEndpoints = ["127.0.0.1:1883", "localhost:1883", "[::1]:1883"]

    public init() {}

    public static func parse(_ board: BoardDescription) throws -> WorldConfig {
        var w = WorldConfig()
        guard let sim = board.sections["sim"] else { return w }
        var p = Problems(file: board.file)
        let dir = board.file.contains("/") ? String(board.file[..<board.file.lastIndex(of: "/")!]) : "."
        p.rejectUnknown(sim, at: "sim", known: ["start", "inputs", "uarts", "network", "values", "i2c", "note"])
        if let s = p.string(sim, "start", at: "sim") {
            if let t = parseISO8601(s) { w.startUnixNanoseconds = t } else { p.add("sim.start", sim["start"], "expected UTC time like 2026-01-01T00:00:00Z, got '\(s)'") }
        }
        /// The members of section `key` whose role is of `kind` on the board (the others are problems).
        func roles(_ key: String, _ kind: RoleKind, _ p: inout Problems) -> [(name: String, value: JSON, path: String)] {
            (sim[key]?.members ?? []).compactMap { m in
                let path = "sim.\(key).\(m.key)"
                guard board.role(m.key)?.kind == kind else {
                    p.add(path, m.value, "no \(kind.rawValue) role '\(m.key)' on this board")
                    return nil
                }
                return (m.key, m.value, path)
            }
        }
        for r in roles("inputs", .input, &p) { w.inputs[r.name] = input(r.value, at: r.path, &p) }
        for r in roles("uarts", .serial, &p) { w.uarts[r.name] = uart(r.value, at: r.path, dir: dir, &p) }
        for r in roles("values", .value, &p) { w.values[r.name] = curve(r.value, at: r.path, &p) }
        for r in roles("i2c", .i2c, &p) { w.i2c[r.name] = i2c(r.value, at: r.path, driver: board.role(r.name)?.i2c?.driver, &p) }
        if let n = sim["network"] { w.network(n, at: "sim.network", dir: dir, &p) }
        try p.check()
        return w
    }

    /// `sim.inputs.<role>`: its presses, scripted and at random.
    private static func input(_ v: JSON, at path: String, _ p: inout Problems) -> InputScript {
        p.rejectUnknown(v, at: path, known: ["presses", "presses_per_hour", "hold", "bounce"])
        var s = InputScript()
        s.hold = p.duration(v, "hold", at: path) ?? s.hold
        s.bounce = p.duration(v, "bounce", at: path) ?? s.bounce
        s.pressesPerHour = p.number(v, "presses_per_hour", at: path) ?? 0
        for (i, e) in (v["presses"]?.array ?? []).enumerated() {
            let ep = "\(path).presses[\(i)]"
            p.rejectUnknown(e, at: ep, known: ["at", "hold", "bounce"])
            guard let at = p.duration(e, "at", at: ep, required: true) else { continue }
            s.presses.append(Press(at: at, hold: p.duration(e, "hold", at: ep) ?? s.hold, bounce: p.duration(e, "bounce", at: ep) ?? s.bounce))
        }
        s.presses.sort { $0.at < $1.at }
        return s
    }

    /// `sim.uarts.<role>`: what the device on it sends (an NMEA log, relative to `dir`), how
    /// fast, and its noise.
    private static func uart(_ v: JSON, at path: String, dir: String, _ p: inout Problems) -> UARTSourceConfig {
        p.rejectUnknown(v, at: path, known: ["nmea", "rate_hz", "loop", "byte_error_rate", "garbage_per_hour", "rx_trigger"])
        var u = UARTSourceConfig()
        if let f = p.string(v, "nmea", at: path) {
            let full = f.hasPrefix("/") ? f : "\(dir)/\(f)"
            if let bytes = readFileBytes(full) {
                u.epochs = UARTSourceConfig.nmeaEpochs(bytes)
                if u.epochs.isEmpty { p.add("\(path).nmea", v["nmea"], "\(full) holds no sentences") }
            } else {
                p.add("\(path).nmea", v["nmea"], "cannot read \(full)")
            }
        }
        if let hz = p.number(v, "rate_hz", at: path) {
            if hz > 0 && hz <= 100 { u.periodNanoseconds = Int64(1e9 / hz) } else { p.add("\(path).rate_hz", v["rate_hz"], "expected 0 < rate_hz <= 100") }
        }
        u.loop = p.bool(v, "loop", at: path) ?? true
        u.byteErrorRate = p.fraction(v, "byte_error_rate", at: path) ?? 0
        u.garbagePerHour = p.number(v, "garbage_per_hour", at: path) ?? 0
        u.rxTrigger = p.int(v, "rx_trigger", at: path, range: 1...64) ?? 16
        return u
    }

    /// `sim.i2c.<role>`: its silent windows, and what its chip reads.
    private static func i2c(_ v: JSON, at path: String, driver: String?, _ p: inout Problems) -> I2CWorld {
        var w = I2CWorld()
        let own: Set<String> = driver == "bme280" ? ["temperature", "humidity", "pressure"] : driver == "ads1115" ? ["inputs"] : []
        p.rejectUnknown(v, at: path, known: own.union(["silent", "note"]))
        for k in ["temperature", "humidity", "pressure"] {
            guard let c = v[k] else { continue }
            let curve = curve(c, at: "\(path).\(k)", &p)
            switch k {
            case "temperature": w.weather.temperature = curve
            case "humidity": w.weather.humidity = curve
            default: w.weather.pressure = curve
            }
        }
        for m in v["inputs"]?.members ?? [] {
            guard let n = Int(m.key), (0...3).contains(n) else { p.add("\(path).inputs.\(m.key)", m.value, "expected an input 0 to 3"); continue }
            w.inputs[n] = curve(m.value, at: "\(path).inputs.\(m.key)", &p)
        }
        for (i, o) in (v["silent"]?.array ?? []).enumerated() {
            let op = "\(path).silent[\(i)]"
            p.rejectUnknown(o, at: op, known: ["at", "for"])
            if let at = p.duration(o, "at", at: op, required: true), let len = p.duration(o, "for", at: op, required: true) {
                w.silent.append((at, len))
            }
        }
        return w
    }

    /// `sim.values.<role>` and the curves of I2C chips: base, swing, period, noise.
    private static func curve(_ v: JSON, at path: String, _ p: inout Problems) -> SimCurve {
        p.rejectUnknown(v, at: path, known: ["base", "swing", "period", "noise"])
        var c = SimCurve()
        c.base = p.number(v, "base", at: path) ?? c.base
        c.swing = p.number(v, "swing", at: path) ?? c.swing
        c.period = p.duration(v, "period", at: path) ?? c.period
        if c.period <= 0 { p.add("\(path).period", v["period"], "expected a duration above 0") }
        c.noise = p.number(v, "noise", at: path) ?? c.noise
        return c
    }

    /// `sim.network`: where the broker listens (and its TLS files, relative to `dir`), the
    /// link's latency, loss and resets, outages scripted and at random.
    private mutating func network(_ n: JSON, at path: String, dir: String, _ p: inout Problems) {
        p.rejectUnknown(n, at: path, known: ["broker", "latency", "jitter", "loss", "refuse", "resets_per_hour", "outages", "outages_per_day", "outage_length", "tls"])
        if let t = n["tls"] {
            p.rejectUnknown(t, at: path + ".tls", known: ["cert", "key", "ca"])
            var files: [String] = []
            for k in ["cert", "key", "ca"] {
                guard let f = p.string(t, k, at: path + ".tls", required: true) else { continue }
                let full = f.hasPrefix("/") ? f : "\(dir)/\(f)"
                if access(full, R_OK) != 0 { p.add("\(path).tls.\(k)", t[k], "cannot read \(full)") }
                files.append(full)
            }
            if files.count == 3 { brokerTLS = BrokerTLS(cert: files[0], key: files[1], ca: files[2]) }
        }
        if let b = p.string(n, "broker", at: path) { brokerEndpoints = [b] }
        network.latencyNanoseconds = p.duration(n, "latency", at: path) ?? network.latencyNanoseconds
        network.jitterNanoseconds = p.duration(n, "jitter", at: path) ?? 0
        network.loss = p.fraction(n, "loss", at: path) ?? 0
        network.refuse = p.fraction(n, "refuse", at: path) ?? 0
        network.resetsPerHour = p.number(n, "resets_per_hour", at: path) ?? 0
        network.randomOutagesPerDay = p.number(n, "outages_per_day", at: path) ?? 0
        network.randomOutageLength = p.duration(n, "outage_length", at: path) ?? network.randomOutageLength
        for (i, o) in (n["outages"]?.array ?? []).enumerated() {
            let op = "\(path).outages[\(i)]"
            p.rejectUnknown(o, at: op, known: ["at", "for"])
            if let at = p.duration(o, "at", at: op, required: true), let len = p.duration(o, "for", at: op, required: true) {
                network.outages.append((at, len))
            }
        }
    }
}
