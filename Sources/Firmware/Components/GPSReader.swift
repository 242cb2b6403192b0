import Board
import Kernel

/// Reads the GPS UART (the `gpsRole`, when the board has it as a serial role) through a
/// bounded line framer into the NMEA parser; the latest fix is state the snapshot reads
/// between awaits. Garbage is counted, never fatal. A port that fails (a USB receiver
/// unplugged) is a fault of its role while it lasts; the rest of the firmware goes on, and the
/// port is reopened 0.5 s, 1, 2, ... up to 30 s apart, or as soon as its device node
/// reappears. The position is published, retained, on `…/gps` when a fix moves it: at most
/// once per `positionIntervalMilliseconds`, whatever the snapshot interval.
@KernelActor
public final class GPSReader: Component {
    private unowned var device: Device!
    private var port: (any SerialPort)?
    public private(set) var framer = LineFramer()
    public private(set) var parser = NMEAParser()
    public private(set) var uartBytes = 0
    /// Attempts to reopen the port after it went away.
    public private(set) var reopens = 0
    private var hadFix = false
    /// The last GPS position published on `…/gps`, and when (kernel time).
    private var publishedFix: (Double, Double, Double?)?
    private var publishedAt: Int64?

    /// Least time between two publishes of `…/gps`: a receiver reports 1 to 10 times a second
    /// (and a still one wanders in the last digits), a tracker on a map needs far fewer.
    public nonisolated static let positionIntervalMilliseconds = 5000

    /// Longest wait between two attempts to reopen a serial port that went away.
    public nonisolated static let reopenMaxMilliseconds = 30_000
    /// Bytes read from the port at a time: what a gather brings in one read.
    static let readSize = 1024
    /// After a read that emptied the port, the reader lets bytes gather before it reads again:
    /// the time `gatherBytes` take on the wire, at most `gatherMaxMilliseconds`. A receiver
    /// sends its epoch as one burst, and a UART wakes the reader every 16 bytes of it (the
    /// FIFO's trigger level): gathering makes ~100 bytes one wakeup at 9600 baud (~8 a second
    /// instead of ~45) and ~1 KB one at 115200 (~11 a second instead of ~700), for a fix at most
    /// 100 ms later. The tty layer keeps 4 KB, so 1 KB leaves room for it at any baud rate.
    static let gatherBytes = 1024
    public nonisolated static let gatherMaxMilliseconds = 100

    public init() {}

    /// The latest fix, nil before the receiver first reported a position.
    public var fix: Fix? { hadFix ? parser.fix : nil }

    public func attach(to device: Device) throws {
        self.device = device
        let role = device.config.gpsRole
        if device.board.description.role(role)?.kind == .serial { port = try device.board.serial(role) }
    }

    public func start(in group: TaskGroupScope) {
        if let port { group.spawn("gps") { await self.read(port) } }
    }

    /// `"gps"`: the fix as gpsd's TPV names it (null before the first); `"uart"`: the port's
    /// byte and line counts, garbage by kind, reopens (null without a GPS port).
    public func sample(into s: inout Snapshot) async {
        let fix = self.fix
        s.add("gps") { w in if let fix { fix.write(to: &w) } else { w.null() } }
        guard port != nil else { return s.add("uart") { $0.null() } }
        let (bytes, lines, bad, overlong, noise, reopens) = (uartBytes, framer.lines, parser.bad, framer.dropped, framer.noise, reopens)
        s.add("uart") { w in
            w.object { w in
                w.key("bytes"); w.int(bytes)
                w.key("lines"); w.int(lines)
                w.key("bad"); w.int(bad)
                w.key("overlong"); w.int(overlong)
                w.key("noise"); w.int(noise)
                w.key("reopens"); w.int(reopens)
            }
        }
    }

    /// `fix 3D 52.1,4.3` (or `no fix`) and `uart 120 lines, 2 bad`, when the board has the port.
    public func status(into line: inout StatusLine) {
        guard port != nil else { return }
        if let f = fix, let lat = f.lat, let lon = f.lon {
            line.add("fix \(f.mode)D \(Double(Int(lat * 1e5)) / 1e5),\(Double(Int(lon * 1e5)) / 1e5)")
        } else {
            line.add("no fix")
        }
        line.add("uart \(framer.lines) lines, \(parser.bad) bad")
    }

    /// A `device_tracker` on `…/gps` (the attributes `publishPosition` writes), and the UART's
    /// problem sensor (unplugged, silent).
    public func discover(into a: inout HomeAssistantDiscovery.Announcement) {
        guard port != nil else { return }
        let topics = a.topics
        a.add("device_tracker", device.config.gpsRole) { w in
            w.key("name"); w.string("GPS")
            w.key("json_attributes_topic"); w.string(topics.gps)
            w.key("source_type"); w.string("gps")
        }
        a.addProblemSensor(device.config.gpsRole, name: "GPS problem")
    }

    public func online() {
        publishedFix = nil
        publishedAt = nil
        publishPosition()
    }

    private func read(_ port: any SerialPort) async {
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readSize, alignment: 1)
        defer { buf.deallocate() }
        let role = device.config.gpsRole
        let gather = min(Int64(Self.gatherMaxMilliseconds) * 1_000_000, Int64(Self.gatherBytes) * port.settings.characterNanoseconds)
        var attempt = 0
        while true {
            do {
                while true {
                    let n = try await port.read(into: buf)
                    uartBytes += n
                    attempt = 0
                    let lines = framer.lines
                    framer.feed(UnsafeRawBufferPointer(rebasing: buf[0..<n])) { line in
                        parser.parse(line)
                        if parser.fix.mode >= 2 { hadFix = true }
                    }
                    // Only a sentence can move the fix (most reads end inside one).
                    if framer.lines != lines { publishPosition() }
                    if n < buf.count { try await sleep(until: Kernel.now + gather, tolerance: Kernel.coarseTolerance) }
                }
            } catch is CancellationError {
                return
            } catch {
                device.setFault(role, "\(error)")
            }
            while true {
                let ms = min(Self.reopenMaxMilliseconds, 500 << min(attempt, 16))
                attempt += 1
                do { try await port.waitForDevice(until: Kernel.now + Int64(ms) * 1_000_000) } catch { return }   // cancelled
                reopens += 1
                do {
                    try port.reopen()
                    device.setFault(role, nil)
                    device.onLog(.info, "\(role): \(port.path) open again")
                    break
                } catch {
                    device.setFault(role, "\(error)")
                }
            }
        }
    }

    /// `…/gps`: the position as Home Assistant's device tracker reads it, when it moved and
    /// `positionIntervalMilliseconds` have passed since the last (a move inside the interval
    /// goes out with the next sentence after it: the receiver keeps talking).
    private func publishPosition() {
        // Called after every read that ended a sentence (a few a second): the cheapest test
        // first, the fix copied last.
        if let t = publishedAt, Kernel.now - t < Int64(Self.positionIntervalMilliseconds) * 1_000_000 { return }
        guard hadFix, device.client?.state == .online else { return }
        let f = parser.fix
        guard let lat = f.lat, let lon = f.lon else { return }
        if let p = publishedFix, p.0 == lat, p.1 == lon, p.2 == f.alt { return }
        publishedFix = (lat, lon, f.alt)
        publishedAt = Kernel.now
        var w = JSONWriter(capacity: 128)
        w.object { w in
            w.key("latitude"); w.number(lat, digits: 7)
            w.key("longitude"); w.number(lon, digits: 7)
            // Home Assistant wants metres; a fix has HDOP: ~5 m per unit is the usual estimate.
            w.key("gps_accuracy"); w.number(((f.hdop ?? 1) * 5 * 10).rounded() / 10)
            w.key("altitude"); w.number(f.alt, digits: 1)
        }
        device.publishDirect(device.topics.gps, w.text, retain: true)
    }
}

extension Fix {
    /// As gpsd's TPV names them: mode, lat, lon, alt, speed (m/s), track (°), time, sats, hdop;
    /// position only with a fix (mode ≥ 2), altitude only in 3D.
    public func write(to w: inout JSONWriter) {
        w.object { w in
            w.key("mode"); w.int(mode)
            w.key("lat"); w.number(mode >= 2 ? lat : nil, digits: 9)
            w.key("lon"); w.number(mode >= 2 ? lon : nil, digits: 9)
            w.key("alt"); w.number(mode >= 3 ? alt : nil, digits: 3)
            w.key("speed"); w.number(speed, digits: 3)
            w.key("track"); w.number(track, digits: 2)
            w.key("time"); if let time { w.string(time) } else { w.null() }
            w.key("sats"); if let satellites { w.int(satellites) } else { w.null() }
            w.key("hdop"); w.number(hdop, digits: 2)
        }
    }
}

