import Board
import Glibc
import LinuxBoard

/// `firmloop probe`: what this machine has (GPIO chips and lines like gpioinfo, serial ports,
/// I2C adapters and the addresses that answer like `i2cdetect -r`, PWM chips and their
/// channels) and, for a board file, whether each role resolves here. It only reads: an I2C
/// probe is a read, a PWM channel is not exported.
struct Probe: Command {
    static let name = "probe"
    static let abstract = "List GPIO chips and lines, serial ports, I2C buses and PWM chips, and check a board file's roles against them."
    static let discussion = "Exits 1 when the machine has no GPIO chip (and a board needs one, or none was given) or a role does not resolve."
    static let parameters: [Parameter] = [
        .option("board", help: "Board file whose roles to check."),
        .flag("all", help: "List every line of every chip (default: named or used lines only)."),
    ]
    var board: String?
    var all = false

    init(_ a: ParsedArguments) {
        board = a.string("board")
        all = a.flag("all")
    }

    func run() throws {
        var failed = false
        say("GPIO backend: \(GPIOChip.backend)")
        let chips = GPIOChip.all().map { $0.info() }
        if chips.isEmpty {
            say("GPIO: no GPIO chips on this machine (no /dev/gpiochip*)")
        }
        for c in chips {
            say("\(c.name) [\(c.label)] \(c.lines.count) lines")
            for l in c.lines where all || l.name != nil || l.isUsed {
                let name = l.name.map { "\"\($0)\"" } ?? "unnamed"
                let used = l.isUsed ? "used by \"\(l.consumer ?? "?")\"" : "unused"
                say("  line \(String(l.offset).padding(3, left: true)): \(name.padding(14)) \((l.isOutput ? "output" : "input").padding(6)) \(used)\(l.activeLow ? " active-low" : "")")
            }
        }
        let ports = serialPorts()
        say(ports.isEmpty ? "serial: no serial ports found" : "serial: " + ports.joined(separator: "  "))
        let adapters = LinuxI2C.all()
        if adapters.isEmpty { say("I2C: no I2C buses (on a Pi: dtparam=i2c_arm=on in config.txt; modprobe i2c-dev)") }
        for a in adapters {
            switch LinuxI2C.scan(a.path) {
            case .success(let found):
                let answered = found.filter { $0.answer == .answered }.map { I2CSpec.hex($0.address) }
                let claimed = found.filter { $0.answer == .claimed }.map { I2CSpec.hex($0.address) + " (kernel driver)" }
                let list = answered + claimed
                say("I2C \(a.label): " + (list.isEmpty ? "nothing answers" : list.joined(separator: " ")))
            case .failure(let e): say("I2C \(a.label): \(e)")
            }
        }
        let pwmChips = LinuxPWM.all()
        if pwmChips.isEmpty { say("PWM: no PWM chips (on a Pi: dtoverlay=pwm-2chan in config.txt)") }
        for c in pwmChips {
            let exported = (0..<c.channels).filter { access("\(c.path)/pwm\($0)", F_OK) == 0 }
            say("PWM \(c.label)" + (exported.isEmpty ? "" : ", exported: " + exported.map(String.init).joined(separator: " ")))
        }
        guard let path = board else {
            if chips.isEmpty { throw ExitCode(1) }
            return
        }
        let d: BoardDescription
        do { d = try BoardDescription.load(path: path) } catch {
            writeErr("firmloop probe: \(error)\n")
            throw ExitCode(2)
        }
        say("\n\(d.file) (\(d.board)):")
        for r in d.roles {
            switch r.kind {
            case .output, .input:
                let spec = r.line!
                switch LineLookup.resolve(spec, role: r.name, chips: chips) {
                case .success(let (c, o)):
                    let line = chips[c].lines[o]
                    let busy = line.isUsed ? "  in use by \"\(line.consumer ?? "?")\"" : ""
                    if line.isUsed { failed = true }
                    say("  \(r.name.padding(12)) \(spec.label.padding(24)) -> \(chips[c].name) line \(o)\(busy.isEmpty ? "  ok" : busy)")
                case .failure(let e):
                    failed = true
                    say("  \(r.name.padding(12)) \(spec.label.padding(24)) -> MISSING: \(e)")
                }
            case .serial:
                let dev = r.device ?? "?"
                say("  \(r.name.padding(12)) \((dev + " " + (r.settings?.description ?? "")).padding(24)) -> \(serialStatus(dev, role: r.name, failed: &failed))")
            case .value:
                let spec = r.value!
                switch LinuxValue.readNow(spec, role: r.name) {
                case .success(let (path, v)): say("  \(r.name.padding(12)) \(spec.path.padding(24)) -> \(path): \(v)  ok")
                case .failure(let e):
                    failed = true
                    say("  \(r.name.padding(12)) \(spec.path.padding(24)) -> MISSING: \(e)")
                }
            case .i2c:
                let spec = r.i2c!
                switch LinuxI2C.check(spec, role: r.name) {
                case .success(let path): say("  \(r.name.padding(12)) \(spec.label.padding(24)) -> \(path): answers  ok")
                case .failure(let e):
                    failed = true
                    say("  \(r.name.padding(12)) \(spec.label.padding(24)) -> MISSING: \(e)")
                }
            case .pwm:
                let spec = r.pwm!
                switch LinuxPWM.find(spec.chip, role: r.name) {
                case .success(let c) where spec.channel < c.channels: say("  \(r.name.padding(12)) \(spec.label.padding(24)) -> \(c.path)/pwm\(spec.channel)  ok")
                case .success(let c):
                    failed = true
                    say("  \(r.name.padding(12)) \(spec.label.padding(24)) -> MISSING: \(BoardError.pwmChannel(chip: spec.chip, channel: spec.channel, channels: c.channels, role: r.name))")
                case .failure(let e):
                    failed = true
                    say("  \(r.name.padding(12)) \(spec.label.padding(24)) -> MISSING: \(e)")
                }
            }
        }
        if failed { throw ExitCode(1) }
    }

    /// Present and usable, or why not (without opening it: opening a tty can reset the device on it).
    func serialStatus(_ path: String, role: String, failed: inout Bool) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else {
            failed = true
            return "MISSING: \(BoardError.deviceAbsent(path: path, role: role))"
        }
        if access(path, R_OK | W_OK) != 0 {
            failed = true
            let group = getgrgid(st.st_gid).map { String(cString: $0.pointee.gr_name) }
            return "NO ACCESS: \(BoardError.permissionDenied(path: path, group: group, role: role))"
        }
        var target = [CChar](repeating: 0, count: 256)
        let n = readlink(path, &target, 255)
        return n > 0 ? "ok (-> \(String(decoding: target.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)))" : "ok"
    }

    /// /dev/ttyS* (only those with a UART behind them), ttyAMA*, serial*, ttyUSB*, ttyACM*.
    func serialPorts() -> [String] {
        var out: [String] = []
        for n in directoryEntries("/dev") {
            if n.hasPrefix("ttyS") {
                // Most PCs have ttyS0-31 nodes with nothing behind them: the uart type says.
                guard let t = readTextFile("/sys/class/tty/\(n)/type"), Int(t.filter(\.isNumber)) ?? 0 != 0 else { continue }
            } else if !(n.hasPrefix("ttyAMA") || n.hasPrefix("serial") || n.hasPrefix("ttyUSB") || n.hasPrefix("ttyACM")) {
                continue
            }
            if n == "serial" { continue }   // the /dev/serial/by-id directory
            out.append("/dev/" + n)
        }
        return out
    }
}
