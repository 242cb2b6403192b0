// NMEA 0183 from a GPS receiver: a bounded line framer and a parser for the sentences that
// carry a fix (GGA, RMC, GSA, VTG, GLL) from the GP, GN, GL, GA and BD talkers. Garbage,
// binary noise, overlong lines and bad checksums are counted, never fatal.

/// Splits a byte stream into lines of at most `maxLine` bytes. A line starts at `$` (bytes
/// before it are noise: counted, dropped), ends at CR or LF (either, or both). An overlong
/// line is dropped and counted, and framing resyncs at the next `$`. Memory: `maxLine` bytes.
public struct LineFramer: Sendable {
    public let maxLine: Int
    private var line: [UInt8] = []
    private var inLine = false
    private var overlong = false
    /// Lines handed out, lines dropped for length, bytes outside any line.
    public private(set) var lines = 0
    public private(set) var dropped = 0
    public private(set) var noise = 0

    public init(maxLine: Int = 120) {
        self.maxLine = maxLine
        line.reserveCapacity(maxLine)
    }

    /// Feeds bytes; calls `onLine` with each complete line (without CR/LF).
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ onLine: (ArraySlice<UInt8>) -> Void) {
        for b in bytes {
            switch b {
            case UInt8(ascii: "$"), UInt8(ascii: "!"):
                if inLine && !line.isEmpty && !overlong { noise += line.count }   // a line cut short: resync here
                line.removeAll(keepingCapacity: true)
                line.append(b)
                inLine = true
                overlong = false
            case 0x0D, 0x0A:
                if inLine {
                    if overlong { dropped += 1 } else if line.count > 1 {
                        lines += 1
                        onLine(line[...])
                    }
                }
                inLine = false
                overlong = false
                line.removeAll(keepingCapacity: true)
            default:
                if !inLine { noise += 1; continue }
                if overlong { continue }
                if line.count >= maxLine { overlong = true; continue }
                line.append(b)
            }
        }
    }
}

/// The latest position as the receiver reported it. Fields stay nil until a sentence gives them.
public struct Fix: Sendable, Equatable {
    /// 1: no fix, 2: 2D, 3: 3D (gpsd's TPV mode); 0 before any sentence said.
    public var mode = 0
    public var lat: Double?
    public var lon: Double?
    /// Altitude above mean sea level, metres (GGA).
    public var alt: Double?
    /// Speed over ground, m/s.
    public var speed: Double?
    /// Course over ground, degrees true.
    public var track: Double?
    /// UTC time of the fix "hh:mm:ss.ss", with the date "yyyy-mm-ddT" in front once an RMC gave it.
    public var time: String?
    public var satellites: Int?
    public var hdop: Double?

    public init() {}
}

/// Parses sentences into `fix`, one whole epoch at a time. Counts what it could not use.
///
/// A receiver sends each epoch (one time of fix) as several sentences: RMC has the position and
/// date, GGA the altitude, GSA the mode. A fix read between two of them would mix epochs (the
/// new position with the old altitude), so sentences go into `current`, and `fix` only
/// changes when an epoch is complete, as gpsd reports a cycle:
///  - when a sentence brings a new time of fix, the epoch before it is complete;
///  - that epoch's last sentence type (GLL for a u-blox) is then known as the epoch's end, and
///    from the next epoch on `fix` is updated as soon as that sentence is in.
/// So a fix shows up at the end of its epoch, or at the start of the next until the end is
/// learned (and again if the receiver stops sending it).
public struct NMEAParser: Sendable {
    /// The last complete epoch: what a snapshot reports.
    public private(set) var fix = Fix()
    /// The epoch being read, as each sentence leaves it (gpsd's decoding sentence by sentence).
    public private(set) var current = Fix()
    /// The sentence ("GNGLL") that ended the last epoch, and the last one used in this one.
    private var ender: String?
    private var lastUsed: String?
    /// Sentences with a good checksum, and those parsed into the fix.
    public private(set) var good = 0
    public private(set) var used = 0
    /// Lines that were not NMEA, failed the checksum or had a broken field.
    public private(set) var bad = 0
    private var date: String?
    /// The fields of the sentence being parsed: one buffer for the parser's life (no
    /// allocation per sentence).
    private var fields: Fields = []
    /// The date `current.time` was made with.
    private var timeDate: String?
    /// The fix time of the last GGA that had an altitude: a 3D fix for that epoch, whatever a
    /// GSA says (receivers such as the Garmin 25LP and MTK3329 report "2" in GSA then; gpsd
    /// keeps 3D too).
    private var altitudeTime: String?
    /// The time of day of the epoch being read (the fix's time without the date).
    private var clock: String?

    public init() {}

    /// Parses one line (from `$` to before CR/LF) into `current`, and into `fix` when it ends an
    /// epoch. Returns true when `current` changed.
    @discardableResult
    public mutating func parse(_ line: ArraySlice<UInt8>) -> Bool {
        guard let body = Self.checked(line) else { bad += 1; return false }
        good += 1
        var f = fields
        fields = []
        defer { fields = f }
        f.removeAll(keepingCapacity: true)
        var start = body.startIndex
        for i in body.indices where body[i] == UInt8(ascii: ",") {
            f.append(body[start..<i])
            start = i + 1
        }
        f.append(body[start...])
        let head = f[0]
        guard head.count == 5 || head.count == 6 else { bad += 1; return false }
        switch (head[head.startIndex], head[head.startIndex + 1]) {
        case (UInt8(ascii: "G"), UInt8(ascii: "P")), (UInt8(ascii: "G"), UInt8(ascii: "N")), (UInt8(ascii: "G"), UInt8(ascii: "L")),
             (UInt8(ascii: "G"), UInt8(ascii: "A")), (UInt8(ascii: "B"), UInt8(ascii: "D")), (UInt8(ascii: "G"), UInt8(ascii: "B")):
            break
        default:
            return false
        }
        let type = String(decoding: head.suffix(3), as: UTF8.self)
        let before = current
        let ok: Bool
        switch type {
        case "GGA": ok = gga(f)
        case "RMC": ok = rmc(f)
        case "GSA": ok = gsa(f)
        case "VTG": ok = vtg(f)
        case "GLL": ok = gll(f)
        default: return false
        }
        if !ok { bad += 1; current = before; return false }
        used += 1
        let name = String(decoding: head, as: UTF8.self)
        lastUsed = name
        if name == ender { fix = current }
        return current != before
    }

    /// The sentence between `$` and `*` if its checksum (XOR of those bytes) matches.
    static func checked(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard line.first == UInt8(ascii: "$"), let star = line.lastIndex(of: UInt8(ascii: "*")),
              line.endIndex - star >= 3 else { return nil }
        let body = line[(line.startIndex + 1)..<star]
        var sum: UInt8 = 0
        for b in body {
            guard b >= 0x20 && b < 0x7F else { return nil }
            sum ^= b
        }
        guard let hi = hex(line[star + 1]), let lo = hex(line[star + 2]), hi << 4 | lo == sum else { return nil }
        return body
    }

    static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    typealias Fields = [ArraySlice<UInt8>]

    static func field(_ f: Fields, _ i: Int) -> String? {
        guard i < f.count, !f[i].isEmpty else { return nil }
        return String(decoding: f[i], as: UTF8.self)
    }

    static func number(_ f: Fields, _ i: Int) -> Double?? {
        guard let s = field(f, i) else { return .some(nil) }    // empty: no value
        guard let d = Double(s), d.isFinite else { return nil }   // garbage: a bad sentence
        return .some(d)
    }

    /// ddmm.mmmm + hemisphere → signed degrees; .some(nil) when empty, nil when broken.
    static func coordinate(_ f: Fields, _ i: Int, degreeDigits: Int) -> Double?? {
        guard let s = field(f, i) else { return .some(nil) }
        guard let hemi = field(f, i + 1), let v = Double(s), v >= 0 else { return nil }
        let deg = (v / 100).rounded(.down)
        let min = v - deg * 100
        guard min < 60, deg <= (degreeDigits == 2 ? 90 : 180) else { return nil }
        let d = deg + min / 60
        switch hemi {
        case "N", "E": return .some(d)
        case "S", "W": return .some(-d)
        default: return nil
        }
    }

    static func time(_ f: Fields, _ i: Int) -> String?? {
        guard i < f.count, !f[i].isEmpty else { return .some(nil) }
        let b = f[i], s = b.startIndex
        guard b.count >= 6, b.prefix(6).allSatisfy({ $0 >= 48 && $0 <= 57 }), Double(String(decoding: b, as: UTF8.self)) != nil else { return nil }
        let hh = Int(b[s] - 48) * 10 + Int(b[s + 1] - 48), mm = Int(b[s + 2] - 48) * 10 + Int(b[s + 3] - 48)
        guard hh < 24, mm < 60, (Double(String(decoding: b[(s + 4)...], as: UTF8.self)) ?? 99) < 61 else { return nil }
        // "hhmmss.ss" → "hh:mm:ss.ss", written in place (a small string: no allocation).
        return .some(String(unsafeUninitializedCapacity: b.count + 2) { out in
            var k = 0
            for (j, c) in b.enumerated() {
                if j == 2 || j == 4 { out[k] = UInt8(ascii: ":"); k += 1 }
                out[k] = c
                k += 1
            }
            return k
        })
    }

    mutating func setPosition(_ lat: Double??, _ lon: Double??) -> Bool {
        guard let lat, let lon else { return false }
        if let la = lat, let lo = lon { current.lat = la; current.lon = lo }
        return true
    }

    mutating func setTime(_ t: String??) -> Bool {
        guard let t else { return false }
        if let t {
            if let c = clock, c != t {
                // A new epoch: the one before is complete, and its last sentence is the end.
                fix = current
                ender = lastUsed
            }
            // Rebuilt only when it changes (most sentences of an epoch repeat its time).
            if clock != t || timeDate != date || current.time == nil {
                current.time = (date.map { $0 + "T" } ?? "") + t
                timeDate = date
            }
            clock = t
        }
        return true
    }

    // $--GGA,time,lat,N,lon,W,quality,sats,hdop,alt,M,sep,M,age,station
    mutating func gga(_ f: Fields) -> Bool {
        guard f.count >= 10, let q = Int(Self.field(f, 6) ?? "0"),
              let sats = Self.number(f, 7), let hdop = Self.number(f, 8), let alt = Self.number(f, 9) else { return false }
        // Satellites used: a count, 0-99 on every receiver; anything else (1e300, -3, 4.5:
        // garbage with a valid checksum) makes the sentence bad, never a trap converting it.
        if let s = sats, !(s >= 0 && s <= 99 && s == s.rounded()) { return false }
        guard setTime(Self.time(f, 1)) else { return false }
        if q == 0 {
            current.mode = 1
            return true
        }
        guard setPosition(Self.coordinate(f, 2, degreeDigits: 2), Self.coordinate(f, 4, degreeDigits: 3)) else { return false }
        if let s = sats { current.satellites = Int(s) }
        if let h = hdop { current.hdop = h }
        // As gpsd reads it: an altitude makes a 3D fix with 3 or more satellites used; with
        // fewer it is 2D (a GLGGA from 2 GLONASS satellites after a 3D GPGGA), and a GGA that
        // claims a fix from 0 satellites is no fix (the Garmin 25LP sends those).
        if let a = alt { current.alt = a }
        if sats == .some(0) {
            current.mode = 1
            return true
        }
        let canBe3D = sats.map { $0 >= 3 } ?? true
        if alt != nil && canBe3D {
            altitudeTime = clock
            current.mode = 3
        } else if current.mode < 2 || (current.mode == 3 && !canBe3D) {
            current.mode = 2
        }
        return true
    }

    // $--RMC,time,status,lat,N,lon,W,knots,track,ddmmyy,magvar,E[,mode]
    mutating func rmc(_ f: Fields) -> Bool {
        guard f.count >= 10, let speed = Self.number(f, 7), let track = Self.number(f, 8) else { return false }
        if f[9].count > 0 {
            let b = f[9], s = b.startIndex
            guard b.count == 6, b.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return false }
            // "ddmmyy" → "yyyy-mm-dd", in place (a small string: no allocation).
            let yy = Int(b[s + 4] - 48) * 10 + Int(b[s + 5] - 48)
            let year = yy < 80 ? 2000 + yy : 1900 + yy
            let d = String(unsafeUninitializedCapacity: 10) { out in
                out[0] = UInt8(48 + year / 1000); out[1] = UInt8(48 + year / 100 % 10); out[2] = UInt8(48 + year / 10 % 10); out[3] = UInt8(48 + year % 10)
                out[4] = UInt8(ascii: "-"); out[5] = b[s + 2]; out[6] = b[s + 3]
                out[7] = UInt8(ascii: "-"); out[8] = b[s]; out[9] = b[s + 1]
                return 10
            }
            if d != date { date = d }
        }
        guard setTime(Self.time(f, 1)) else { return false }
        if Self.field(f, 2) != "A" {
            current.mode = 1
            return true
        }
        guard setPosition(Self.coordinate(f, 3, degreeDigits: 2), Self.coordinate(f, 5, degreeDigits: 3)) else { return false }
        if let s = speed { current.speed = s * 0.514444 }
        if let t = track { current.track = t }
        if current.mode < 2 { current.mode = 2 }
        return true
    }

    // $--GSA,A,mode,prn...(12),pdop,hdop,vdop
    mutating func gsa(_ f: Fields) -> Bool {
        guard f.count >= 18, let m = Int(Self.field(f, 2) ?? "1"), (1...3).contains(m) else { return false }
        if !(m == 2 && current.mode == 3 && altitudeTime != nil && altitudeTime == clock) { current.mode = m }
        if case .some(.some(let h)) = Self.number(f, 16) { current.hdop = h }
        return true
    }

    // $--VTG,track,T,mag,M,knots,N,kmh,K[,mode]
    mutating func vtg(_ f: Fields) -> Bool {
        guard f.count >= 8, let track = Self.number(f, 1), let kmh = Self.number(f, 7) else { return false }
        if let t = track { current.track = t }
        if let k = kmh { current.speed = k / 3.6 }
        return true
    }

    // $--GLL,lat,N,lon,W,time,status[,mode]
    mutating func gll(_ f: Fields) -> Bool {
        guard f.count >= 7 else { return false }
        guard setTime(Self.time(f, 5)) else { return false }
        if Self.field(f, 6) != "A" {
            current.mode = 1
            return true
        }
        guard setPosition(Self.coordinate(f, 1, degreeDigits: 2), Self.coordinate(f, 3, degreeDigits: 3)) else { return false }
        if current.mode < 2 { current.mode = 2 }
        return true
    }
}
