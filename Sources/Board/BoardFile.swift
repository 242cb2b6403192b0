import Glibc

// Board files: `boards/NAME.json` maps the roles a firmware uses to lines and devices.
//
//     {
//       "board": "raspberrypi-4b",
//       "chip": "pinctrl-bcm2711",
//       "roles": {
//         "status_led": {"type": "output", "line": "GPIO17"},
//         "button":     {"type": "input", "line": "GPIO22", "bias": "pull-up", "active_low": true, "debounce_ms": 20},
//         "gps_uart":   {"type": "serial", "device": "/dev/serial0", "settings": "9600 8N1"},
//         "probe":      {"type": "value", "path": "/sys/bus/w1/devices/28-*/temperature", "scale": 0.001},
//         "climate":    {"type": "i2c", "bus": "/dev/i2c-1", "address": "0x76", "driver": "bme280", "interval": "10s"},
//         "fan":        {"type": "pwm", "chip": "fe20c000.pwm", "channel": 0, "frequency_hz": 25000, "initial": 0.3, "restore": true}
//       },
//       "sim": { ... the simulated world: a section of its own, read by SimBoard ... }
//     }
//
// Lines are found by name (gpio-line-names) or by chip label + offset, never by chip number.

/// What a role is. Adding a kind: a case here, its entry in `BoardDescription.parseRole`, its
/// accessor in `Roles.swift`, and one file per board making its device.
public enum RoleKind: String, Sendable, CaseIterable {
    case output, input, serial, value, i2c, pwm

    /// "an output", "a serial port": for messages.
    public var phrase: String {
        switch self {
        case .output: "an output"
        case .input: "an input"
        case .serial: "a serial port"
        case .value: "a value sensor"
        case .i2c: "an I2C device"
        case .pwm: "a PWM output"
        }
    }

    /// A GPIO line (output or input).
    public var isLine: Bool { self == .output || self == .input }
}

public enum Bias: String, Sendable, CaseIterable {
    case pullUp = "pull-up", pullDown = "pull-down", disabled, asIs = "as-is"
}

/// Where a GPIO role's line is: a name, a chip label + offset, or a name on a given chip.
public struct LineSpec: Sendable, Equatable {
    /// gpio-line-names name, e.g. "GPIO17".
    public var name: String?
    /// Chip label, e.g. "pinctrl-rp1" (the file's top-level "chip" if the role gives none).
    public var chip: String?
    public var offset: Int?
    public var activeLow = false
    public var bias: Bias = .asIs
    /// Outputs: the value requested with the line.
    public var initial = false
    /// Outputs: the last commanded value is kept on disk and requested at the next start
    /// instead of `initial` (`"restore": true`).
    public var restore = false
    /// Inputs: a change counts once the line has been stable this long.
    public var debounceMilliseconds = 0

    public init(name: String? = nil, chip: String? = nil, offset: Int? = nil, activeLow: Bool = false, bias: Bias = .asIs,
                initial: Bool = false, debounceMilliseconds: Int = 0) {
        self.name = name
        self.chip = chip
        self.offset = offset
        self.activeLow = activeLow
        self.bias = bias
        self.initial = initial
        self.debounceMilliseconds = debounceMilliseconds
    }

    /// "GPIO17", "GPIO17 on pinctrl-rp1", "pinctrl-rp1 line 17": for messages.
    public var label: String {
        if let n = name { return chip.map { "\(n) on \($0)" } ?? n }
        return "\(chip ?? "?") line \(offset ?? -1)"
    }
}

public struct Role: Sendable, Equatable {
    public var name: String
    public var kind: RoleKind
    /// Output and input roles.
    public var line: LineSpec?
    /// Serial roles.
    public var device: String?
    public var settings: SerialSettings?
    /// Value roles.
    public var value: ValueSpec?
    /// I2C roles.
    public var i2c: I2CSpec?
    /// PWM roles.
    public var pwm: PWMSpec?
}

/// An I2C role: a device at a 7-bit address on a bus, read by a driver component.
public struct I2CSpec: Sendable, Equatable {
    /// `/dev/i2c-N`, or the adapter's name as `i2cdetect -l` and
    /// `/sys/bus/i2c/devices/i2c-N/name` show it ("bcm2835 (i2c@7e804000)"), so the file
    /// survives renumbering; "sim:…" on the simulated board.
    public var bus: String
    /// 7-bit, 0x03...0x77.
    public var address: Int
    /// The driver component that reads it ("bme280", "ads1115": `Composition.drivers`); nil:
    /// the firmware's own code takes the role.
    public var driver: String?
    /// How often the driver measures.
    public var intervalNanoseconds: Int64 = 10_000_000_000
    /// The role's whole object: a driver reads its own keys from it (`I2CSpec.commonKeys`
    /// are the board's).
    public var object: JSON

    /// The keys every I2C role may have; a driver adds its own.
    public static let commonKeys: Set<String> = ["type", "bus", "address", "driver", "interval", "note"]

    public init(bus: String, address: Int, driver: String? = nil, intervalNanoseconds: Int64 = 10_000_000_000, object: JSON = JSON(.object([]))) {
        self.bus = bus
        self.address = address
        self.driver = driver
        self.intervalNanoseconds = intervalNanoseconds
        self.object = object
    }

    /// "0x76 on /dev/i2c-1": for messages.
    public var label: String { "\(I2CSpec.hex(address)) on \(bus)" }

    public static func hex(_ address: Int) -> String {
        let h = String(address, radix: 16)
        return "0x" + (h.count < 2 ? "0" + h : h)
    }
}

/// A PWM role: one channel of a PWM chip, at a frequency, its duty set by commands.
public struct PWMSpec: Sendable, Equatable {
    /// The chip's device, as the name `/sys/class/pwm/pwmchipN/device` links to
    /// ("fe20c000.pwm" on a Pi 4, "1f00098000.pwm" on a Pi 5), or its `pwmchipN` name; "sim"
    /// on the simulated board.
    public var chip: String
    public var channel: Int
    public var frequencyHz: Double
    /// Duty cycle 0...1 set at start.
    public var initial = 0.0
    /// The last commanded duty is kept on disk and set at the next start (`"restore": true`).
    public var restore = false
    /// Inverted polarity (active low).
    public var inverted = false

    /// Period in nanoseconds (what sysfs takes).
    public var periodNanoseconds: Int64 { Int64((1e9 / frequencyHz).rounded()) }

    /// "fe20c000.pwm channel 0": for messages.
    public var label: String { "\(chip) channel \(channel)" }

    public init(chip: String, channel: Int, frequencyHz: Double, initial: Double = 0, restore: Bool = false, inverted: Bool = false) {
        self.chip = chip
        self.channel = channel
        self.frequencyHz = frequencyHz
        self.initial = initial
        self.restore = restore
        self.inverted = inverted
    }
}

/// A value role: a number read from a file, such as a 1-Wire DS18B20's
/// `/sys/bus/w1/devices/28-*/temperature` (millidegrees: scale 0.001) or a hwmon or IIO input.
///
/// What the value is, for Home Assistant and the snapshot's readers: `unit` (`"°C"`),
/// `device_class` (`"temperature"`) and `state_class` (`"measurement"`, the default) as Home
/// Assistant's sensor platform names them, `precision` (decimals shown), and how often it is
/// read (`interval`, default 10 s).
public struct ValueSpec: Sendable, Equatable {
    /// The file; `*` and `?` match within one path level, and exactly one file must match.
    public var path: String
    /// The file's number times `scale` is the value.
    public var scale = 1.0
    public var unit: String?
    public var deviceClass: String?
    /// nil: `measurement`; `"none"` in the board file: no state class (a value with no history).
    public var stateClass: String? = "measurement"
    public var precision: Int?
    public var intervalNanoseconds: Int64 = 10_000_000_000
    public init(path: String, scale: Double = 1) {
        self.path = path
        self.scale = scale
    }

    /// The state classes Home Assistant's sensors have.
    public static let stateClasses = ["measurement", "measurement_angle", "total", "total_increasing"]
}

/// A loaded, validated board file.
public struct BoardDescription: Sendable {
    /// The path it was read from (for messages).
    public var file: String
    public var board: String
    public var summary: String
    public var roles: [Role]
    /// Sections other layers read, unread here (by name: "sim" is SimBoard's world).
    public var sections: [String: JSON] = [:]

    public func role(_ name: String) -> Role? { roles.first { $0.name == name } }

    /// This board with `saved` as the initial value of every output that says `"restore": true`
    /// (others keep `initial`): what a firmware applies at start, before any task runs.
    /// PWM roles that say so start at their saved duty the same way.
    public func restoring(_ saved: [String: Double]) -> BoardDescription {
        var d = self
        for i in d.roles.indices {
            guard let v = saved[d.roles[i].name] else { continue }
            if d.roles[i].kind == .output && d.roles[i].line?.restore == true { d.roles[i].line?.initial = v != 0 }
            if d.roles[i].kind == .pwm && d.roles[i].pwm?.restore == true { d.roles[i].pwm?.initial = min(max(v, 0), 1) }
        }
        return d
    }
    public func roles(of kind: RoleKind) -> [Role] { roles.filter { $0.kind == kind } }

    /// Reads and validates `path`; every problem in the file is reported at once.
    public static func load(path: String) throws -> BoardDescription {
        try parse(try FileProblems.read(path, what: "board file"), file: path)
    }

    /// The sections a board file may have besides its own keys, each read by the layer that owns
    /// it: "sim" by SimBoard (`WorldConfig`). Unknown keys are still typos.
    public static let sectionNames: Set<String> = ["sim"]

    public static func parse(_ text: String, file: String) throws -> BoardDescription {
        var p = Problems(file: file)
        let root = try FileProblems.parseJSON(text, file: file)
        guard root.members != nil else {
            throw FileProblems.one(file, line: root.line, "expected a JSON object at the top, found \(root.kind)")
        }
        p.rejectUnknown(root, at: "", known: Set(["board", "description", "chip", "roles"]).union(sectionNames))
        let board = p.string(root, "board", at: "", required: true) ?? ""
        let summary = p.string(root, "description", at: "") ?? ""
        let defaultChip = p.string(root, "chip", at: "")
        var roles: [Role] = []
        if let r = root["roles"] {
            if let members = r.members {
                if members.isEmpty { p.add("roles", r, "declares no roles") }
                for m in members {
                    if let role = parseRole(m.key, m.value, defaultChip: defaultChip, &p) { roles.append(role) }
                }
            } else {
                p.add("roles", r, "expected an object of roles, found \(r.kind)")
            }
        } else {
            p.add("roles", root, "missing (required)")
        }
        var seenRoles = Set<String>()
        for m in root["roles"]?.members ?? [] where !seenRoles.insert(m.key).inserted {
            p.add("roles.\(m.key)", m.value, "role declared twice")
        }
        checkDuplicateLines(roles, root, &p)
        var sections: [String: JSON] = [:]
        for name in sectionNames.sorted() {
            guard let v = root[name] else { continue }
            if v.members == nil { p.add(name, v, "expected an object, found \(v.kind)") } else { sections[name] = v }
        }
        try p.check()
        return BoardDescription(file: file, board: board, summary: summary, roles: roles, sections: sections)
    }

    static let lineKeys: Set<String> = ["type", "line", "chip", "offset", "active_low", "bias", "initial", "restore", "debounce_ms", "note"]
    static let serialKeys: Set<String> = ["type", "device", "settings", "note"]
    static let valueKeys: Set<String> = ["type", "path", "scale", "unit", "device_class", "state_class", "precision", "interval", "note"]
    static let pwmKeys: Set<String> = ["type", "chip", "channel", "frequency_hz", "initial", "restore", "inverted", "note"]

    static func parseRole(_ name: String, _ v: JSON, defaultChip: String?, _ p: inout Problems) -> Role? {
        let path = "roles.\(name)"
        guard v.members != nil else { p.add(path, v, "expected an object, found \(v.kind)"); return nil }
        guard let typeText = p.string(v, "type", at: path, required: true) else { return nil }
        guard let kind = RoleKind(rawValue: typeText) else {
            p.add("\(path).type", v["type"], "unknown role type '\(typeText)' (expected \(RoleKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            return nil
        }
        switch kind {
        case .output, .input:
            p.rejectUnknown(v, at: path, known: lineKeys)
            var spec = LineSpec()
            spec.name = p.string(v, "line", at: path)
            spec.chip = p.string(v, "chip", at: path) ?? defaultChip
            spec.offset = p.int(v, "offset", at: path, range: 0...1023)
            if spec.name == nil && spec.offset == nil {
                p.add("\(path).line", v, "missing: give \"line\" (a gpio-line-names name such as \"GPIO17\") or \"chip\" + \"offset\"")
            }
            if spec.name != nil && spec.offset != nil {
                p.add("\(path).offset", v["offset"], "give either \"line\" or \"offset\", not both")
            }
            if spec.offset != nil && spec.chip == nil {
                p.add("\(path).chip", v, "an offset needs a chip label (\"chip\" here or at the top of the file)")
            }
            spec.activeLow = p.bool(v, "active_low", at: path) ?? false
            if let b = p.string(v, "bias", at: path) {
                if let bias = Bias(rawValue: b) { spec.bias = bias } else {
                    p.add("\(path).bias", v["bias"], "'\(b)' is not one of \(Bias.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }
            if kind == .output {
                spec.initial = p.bool(v, "initial", at: path) ?? false
                spec.restore = p.bool(v, "restore", at: path) ?? false
                for k in ["debounce_ms", "bias"] where v[k] != nil { p.add("\(path).\(k)", v[k], "only inputs have \(k)") }
            } else {
                spec.debounceMilliseconds = p.int(v, "debounce_ms", at: path, range: 0...10_000) ?? 0
                if v["initial"] != nil { p.add("\(path).initial", v["initial"], "only outputs have an initial value") }
                if v["restore"] != nil { p.add("\(path).restore", v["restore"], "only outputs are restored") }
            }
            return Role(name: name, kind: kind, line: spec)
        case .serial:
            p.rejectUnknown(v, at: path, known: serialKeys)
            let device = p.string(v, "device", at: path, required: true)
            // A path, or a scheme another layer opens ("sim:gps" on the simulated board).
            if let d = device, !d.hasPrefix("/") && !d.contains(":") {
                p.add("\(path).device", v["device"], "expected an absolute device path such as /dev/ttyAMA0, got '\(d)'")
            }
            var settings = SerialSettings()
            if let s = p.string(v, "settings", at: path) {
                switch SerialSettings.parse(s) {
                case .success(let ok): settings = ok
                case .failure(let e): p.add("\(path).settings", v["settings"], e.description)
                }
            }
            return Role(name: name, kind: .serial, device: device, settings: settings)
        case .value:
            p.rejectUnknown(v, at: path, known: valueKeys)
            let file = p.string(v, "path", at: path, required: true)
            if let f = file, !f.hasPrefix("/") && !f.contains(":") {
                p.add("\(path).path", v["path"], "expected an absolute path such as /sys/bus/w1/devices/28-*/temperature, got '\(f)'")
            }
            var spec = ValueSpec(path: file ?? "", scale: p.number(v, "scale", at: path) ?? 1)
            spec.unit = p.string(v, "unit", at: path)
            if let c = p.string(v, "device_class", at: path) {
                if !c.isEmpty && c.allSatisfy({ $0.isLowercase || $0 == "_" }) { spec.deviceClass = c } else {
                    p.add("\(path).device_class", v["device_class"], "expected a Home Assistant sensor device class such as \"temperature\", got '\(c)'")
                }
            }
            if let c = p.string(v, "state_class", at: path) {
                if c == "none" { spec.stateClass = nil } else if ValueSpec.stateClasses.contains(c) { spec.stateClass = c } else {
                    p.add("\(path).state_class", v["state_class"], "expected one of \((ValueSpec.stateClasses + ["none"]).joined(separator: ", ")), got '\(c)'")
                }
            }
            spec.precision = p.int(v, "precision", at: path, range: 0...9)
            if let d = p.duration(v, "interval", at: path) {
                if d >= 100_000_000 { spec.intervalNanoseconds = d } else { p.add("\(path).interval", v["interval"], "expected at least 100ms") }
            }
            return Role(name: name, kind: .value, value: spec)
        case .i2c:
            let driver = p.string(v, "driver", at: path)
            // A driver reads its own keys (and rejects the unknown ones when it attaches).
            if driver == nil { p.rejectUnknown(v, at: path, known: I2CSpec.commonKeys) }
            let bus = p.string(v, "bus", at: path, required: true) ?? ""
            if bus.isEmpty, v["bus"] != nil { p.add("\(path).bus", v["bus"], "expected /dev/i2c-N or an adapter's name, got an empty string") }
            let address = i2cAddress(v, at: path, &p)
            var spec = I2CSpec(bus: bus, address: address ?? 0, driver: driver, object: v)
            if let d = p.duration(v, "interval", at: path) {
                if d >= 10_000_000 { spec.intervalNanoseconds = d } else { p.add("\(path).interval", v["interval"], "expected at least 10ms") }
            }
            return Role(name: name, kind: .i2c, i2c: spec)
        case .pwm:
            p.rejectUnknown(v, at: path, known: pwmKeys)
            let chip = p.string(v, "chip", at: path, required: true) ?? ""
            let channel = p.int(v, "channel", at: path, range: 0...255) ?? 0
            var spec = PWMSpec(chip: chip, channel: channel, frequencyHz: 1000)
            if let f = p.number(v, "frequency_hz", at: path) {
                if f >= 0.1 && f <= 50_000_000 { spec.frequencyHz = f } else { p.add("\(path).frequency_hz", v["frequency_hz"], "expected 0.1 to 50000000 Hz, got \(f)") }
            } else if v["frequency_hz"] == nil {
                p.add("\(path).frequency_hz", v, "missing (required): the PWM frequency in Hz, such as 25000 for a 4-pin fan or 50 for a servo")
            }
            if let d = p.number(v, "initial", at: path) {
                if d <= 1 { spec.initial = d } else { p.add("\(path).initial", v["initial"], "expected a duty cycle from 0 to 1, got \(d)") }
            }
            spec.restore = p.bool(v, "restore", at: path) ?? false
            spec.inverted = p.bool(v, "inverted", at: path) ?? false
            return Role(name: name, kind: .pwm, pwm: spec)
        }
    }

    /// `"address": "0x76"` or `118`: a 7-bit address outside the reserved ones.
    static func i2cAddress(_ v: JSON, at path: String, _ p: inout Problems) -> Int? {
        guard let a = v["address"] else { p.add("\(path).address", v, "missing (required): the device's 7-bit address, such as \"0x76\""); return nil }
        let value: Int?
        if let s = a.string {
            let t = s.lowercased()
            value = t.hasPrefix("0x") ? Int(t.dropFirst(2), radix: 16) : Int(t)
        } else {
            value = a.int
        }
        guard let n = value, (0x03...0x77).contains(n) else {
            p.add("\(path).address", a, "expected a 7-bit address from 0x03 to 0x77 (such as \"0x76\"), got \(a.text)")
            return nil
        }
        return n
    }

    static func checkDuplicateLines(_ roles: [Role], _ root: JSON, _ p: inout Problems) {
        var byLine: [String: String] = [:]
        var byDevice: [String: String] = [:]
        for r in roles {
            let key: String
            if let l = r.line {
                key = l.name.map { "name:\($0)@\(l.chip ?? "*")" } ?? "offset:\(l.offset ?? -1)@\(l.chip ?? "*")"
                if let other = byLine[key] {
                    p.add("roles.\(r.name).line", root["roles"]?[r.name], "line \(l.label) is already used by role '\(other)'")
                } else { byLine[key] = r.name }
            } else if let d = r.device {
                if let other = byDevice[d] {
                    p.add("roles.\(r.name).device", root["roles"]?[r.name], "device \(d) is already used by role '\(other)'")
                } else { byDevice[d] = r.name }
            } else if let i = r.i2c {
                let key = "i2c:\(i.address)@\(i.bus)"
                if let other = byDevice[key] {
                    p.add("roles.\(r.name).address", root["roles"]?[r.name], "\(i.label) is already used by role '\(other)'")
                } else { byDevice[key] = r.name }
            } else if let w = r.pwm {
                let key = "pwm:\(w.channel)@\(w.chip)"
                if let other = byDevice[key] {
                    p.add("roles.\(r.name).channel", root["roles"]?[r.name], "\(w.label) is already used by role '\(other)'")
                } else { byDevice[key] = r.name }
            }
        }
    }
}

/// The whole file as text, or nil (errno says why). Small files only (board files, scenarios).
public func readTextFile(_ path: String, limit: Int = 16 << 20) -> String? {
    guard let bytes = readFileBytes(path, limit: limit) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

/// The whole file, or nil (errno says why).
public func readFileBytes(_ path: String, limit: Int = 64 << 20) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    if fd < 0 { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while out.count <= limit {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { return out }
        out.append(contentsOf: chunk[0..<n])
    }
    errno = EFBIG
    return nil
}

/// The names in a directory (without "." and ".."), sorted; empty if it cannot be read.
public func directoryEntries(_ path: String) -> [String] {
    guard let d = opendir(path) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let e = readdir(d) {
        let n = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if n != "." && n != ".." { names.append(n) }
    }
    return names.sorted()
}
