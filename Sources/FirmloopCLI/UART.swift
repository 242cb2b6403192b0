import Board
import Firmware
import Glibc
import Kernel
import LinuxBoard

/// `firmloop uart DEVICE`: a serial monitor; with --nmea, one JSON line per fix.
struct UART: Command {
    static let name = "uart"
    static let abstract = "Show what a serial port receives; with --nmea, each GPS fix as a JSON line."
    static let parameters: [Parameter] = [
        .argument("device", help: "Serial device, e.g. /dev/ttyUSB0 or /dev/serial0."),
        .option("baud", help: "Baud rate (1200-921600).", default: "9600"),
        .option("frame", help: "Data bits, parity, stop bits, e.g. 8N1, 7E1; add \" rtscts\" for flow control.", default: "8N1"),
        .flag("nmea", help: "Parse NMEA 0183 and print each fix as JSON (mode, lat, lon, alt, time, sats)."),
        .option("seconds", help: "Stop after this many seconds (0: run until Ctrl-C).", default: "0"),
    ]
    var device: String
    var baud = 9600
    var frame = "8N1"
    var nmea = false
    var seconds = 0

    init(_ a: ParsedArguments) throws(UsageError) {
        device = a.required("device")
        baud = try a.int("baud") ?? baud
        frame = a.string("frame") ?? frame
        nmea = a.flag("nmea")
        seconds = try a.int("seconds") ?? seconds
    }

    func run() throws {
        let settings: SerialSettings
        switch SerialSettings.parse("\(baud) \(frame)") {
        case .success(let s): settings = s
        case .failure(let e):
            writeErr("firmloop uart: \(e)\n")
            throw ExitCode(2)
        }
        let stop = StopSignal.install()
        let (device, nmea, seconds) = (self.device, self.nmea, self.seconds)
        let failed = Locked<String?>(nil)
        do { try Kernel.run {
            let port: LinuxSerialPort
            do { port = try LinuxSerialPort(path: device, settings: settings, role: "uart") } catch {
                failed.set("\(error)")
                return
            }
            defer { port.close() }
            writeErr("firmloop uart: \(device) at \(settings); " + (seconds > 0 ? "\(seconds) s\n" : "Ctrl-C stops\n"))
            do { try await withGroup("uart") { g in
                g.spawn("monitor") {
                    var framer = LineFramer()
                    var parser = NMEAParser()
                    // One line per fix: the parser's fix changes once per complete epoch.
                    defer {
                        if nmea {
                            writeErr("lines \(framer.lines), bad sentences \(parser.bad), used \(parser.used), overlong \(framer.dropped), noise bytes \(framer.noise)\n")
                        }
                    }
                    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
                    defer { buf.deallocate() }
                    while true {
                        let n = try await port.read(into: buf)
                        let chunk = UnsafeRawBufferPointer(rebasing: buf[0..<n])
                        if !nmea {
                            say(printable(chunk), newline: false)
                            continue
                        }
                        framer.feed(chunk) { line in
                            let before = parser.fix
                            parser.parse(line)
                            if parser.fix != before, parser.fix.time != nil { say(fixJSON(parser.fix)) }
                        }
                    }
                }
                g.spawn("stop") { try await stopOn(stop, after: seconds) }
            } } catch let e where !(e is Stop) && !(e is CancellationError) {
                failed.set("\(e)")   // the port went away: said as this command's error, exit 1
            }
        } } catch is Stop {}
        if let f = failed.get() {
            writeErr("firmloop uart: \(f)\n")
            throw ExitCode(1)
        }
    }
}

/// A fix as one JSON line, as snapshots carry it (gpsd's TPV names).
func fixJSON(_ f: Fix) -> String {
    var w = JSONWriter()
    f.write(to: &w)
    return w.text
}

/// Bytes as text, other bytes as \xNN.
func printable(_ b: UnsafeRawBufferPointer) -> String {
    var s = ""
    for c in b {
        if c == 0x0A || c == 0x0D || c == 0x09 || (c >= 0x20 && c < 0x7F) { s.unicodeScalars.append(Unicode.Scalar(c)) } else {
            let h = String(c, radix: 16)
            s += "\\x" + (h.count == 1 ? "0" : "") + h
        }
    }
    return s
}
