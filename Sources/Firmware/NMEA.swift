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
    ///
    /// Runs of ordinary bytes inside a line are found with one scan and appended at once (one
    /// uniqueness check per run, not per byte): the framer is most of the cost of NMEA.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ onLine: (ArraySlice<UInt8>) -> Void) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        let end = bytes.count
        var i = 0
        while i < end {
            let b = base[i]
            switch b {
            case UInt8(ascii: "$"), UInt8(ascii: "!"):
                if inLine && !line.isEmpty && !overlong { noise += line.count }   // a line cut short: resync here
                line.removeAll(keepingCapacity: true)
                line.append(b)
                inLine = true
                overlong = false
                i += 1
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
                i += 1
            default:
                // The run of ordinary bytes from here to the next delimiter.
                let j = Self.nextDelimiter(base, from: i + 1, end: end)
                let run = j - i
                if !inLine {
                    noise += run
                } else if !overlong {
                    let room = maxLine - line.count
                    if run > room {
                        overlong = true
                    } else {
                        line.append(contentsOf: UnsafeBufferPointer(start: base + i, count: run))
                    }
                }
                i = j
            }
        }
    }

    @inline(__always) static func isDelimiter(_ b: UInt8) -> Bool {
        b == UInt8(ascii: "$") || b == UInt8(ascii: "!") || b == 0x0D || b == 0x0A
    }

    /// The index of the first delimiter in `base[from..<end]`, or `end`: eight bytes at a time
    /// (a word has a delimiter where `word ^ repeated(d)` has a zero byte; the lowest flagged
    /// byte is exact), the tail byte by byte. ~1.5 instructions a byte against ~8.
    @inline(__always) static func nextDelimiter(_ base: UnsafePointer<UInt8>, from: Int, end: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func zeroBytes(_ x: UInt64) -> UInt64 { (x &- ones) & ~x & highs }
        var j = from
        while j + 8 <= end {
            let w = UInt64(littleEndian: UnsafeRawPointer(base + j).loadUnaligned(as: UInt64.self))
            let hits = zeroBytes(w ^ (ones &* 0x24)) | zeroBytes(w ^ (ones &* 0x21))
                | zeroBytes(w ^ (ones &* 0x0D)) | zeroBytes(w ^ (ones &* 0x0A))
            if hits != 0 { return j + hits.trailingZeroBitCount / 8 }
            j += 8
        }
        while j < end, !isDelimiter(base[j]) { j += 1 }
        return j
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
    private var ender: UInt64?
    private var lastUsed: UInt64?
    /// Sentences with a good checksum, and those parsed into the fix.
    public private(set) var good = 0
    public private(set) var used = 0
    /// Lines that were not NMEA, failed the checksum or had a broken field.
    public private(set) var bad = 0
    private var date: String?
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
        line.withUnsafeBytes { parse($0) }
    }

    /// `parse` on the line's bytes: fields are ranges of them (no copies, no reference counting).
    @discardableResult
    public mutating func parse(_ line: UnsafeRawBufferPointer) -> Bool {
        // The commas' offsets on the stack (a sentence has fewer commas than bytes), found in
        // the checksum's pass over the bytes.
        withUnsafeTemporaryAllocation(of: Int.self, capacity: max(line.count, 1)) { commas in
            guard let (body, n) = Self.checked(line, commas: commas) else { bad += 1; return false }
            good += 1
            return parseFields(Fields(body: body, commas: UnsafeBufferPointer(rebasing: commas[..<n])))
        }
    }

    private mutating func parseFields(_ f: Fields) -> Bool {
        let head = f[0]
        guard head.count == 5 || head.count == 6 else { bad += 1; return false }
        switch (head[0], head[1]) {
        case (UInt8(ascii: "G"), UInt8(ascii: "P")), (UInt8(ascii: "G"), UInt8(ascii: "N")), (UInt8(ascii: "G"), UInt8(ascii: "L")),
             (UInt8(ascii: "G"), UInt8(ascii: "A")), (UInt8(ascii: "B"), UInt8(ascii: "D")), (UInt8(ascii: "G"), UInt8(ascii: "B")):
            break
        default:
            return false
        }
        let n = head.count
        let type = UInt32(head[n - 3]) << 16 | UInt32(head[n - 2]) << 8 | UInt32(head[n - 1])
        let before = current
        let ok: Bool
        switch type {
        case Self.gga: ok = gga(f)
        case Self.rmc: ok = rmc(f)
        case Self.gsa: ok = gsa(f)
        case Self.vtg: ok = vtg(f)
        case Self.gll: ok = gll(f)
        default: return false
        }
        if !ok { bad += 1; current = before; return false }
        used += 1
        var name: UInt64 = 0   // the talker and type ("GNGLL"), packed
        for b in head { name = name << 8 | UInt64(b) }
        lastUsed = name
        if name == ender { fix = current }
        return current != before
    }

    static let gga = code("GGA"), rmc = code("RMC"), gsa = code("GSA"), vtg = code("VTG"), gll = code("GLL")
    static func code(_ t: StaticString) -> UInt32 {
        let p = t.utf8Start
        return UInt32(p[0]) << 16 | UInt32(p[1]) << 8 | UInt32(p[2])
    }

    /// The sentence between `$` and `*` if its checksum (XOR of those bytes) matches, and how
    /// many commas it has (their offsets in the body written to `commas`).
    static func checked(_ line: UnsafeRawBufferPointer, commas: UnsafeMutableBufferPointer<Int>) -> (UnsafeRawBufferPointer, Int)? {
        guard line.first == UInt8(ascii: "$"), let star = line.lastIndex(of: UInt8(ascii: "*")),
              line.count - star >= 3 else { return nil }
        let body = UnsafeRawBufferPointer(rebasing: line[1..<star])
        var sum: UInt8 = 0, n = 0, i = 0
        while i < body.count {
            let b = body[i]
            guard b >= 0x20 && b < 0x7F else { return nil }
            sum ^= b
            if b == UInt8(ascii: ",") { commas[n] = i; n += 1 }
            i += 1
        }
        guard let hi = hex(line[star + 1]), let lo = hex(line[star + 2]), hi << 4 | lo == sum else { return nil }
        return (body, n)
    }

    static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    /// A sentence's fields: `f[i]` is field i's bytes (0 is the talker and type); past the last
    /// field, empty.
    struct Fields {
        let body: UnsafeRawBufferPointer
        let commas: UnsafeBufferPointer<Int>
        var count: Int { commas.count + 1 }
        subscript(_ i: Int) -> UnsafeRawBufferPointer {
            guard i < count else { return UnsafeRawBufferPointer(start: nil, count: 0) }
            let from = i == 0 ? 0 : commas[i - 1] + 1
            let to = i < commas.count ? commas[i] : body.count
            return UnsafeRawBufferPointer(rebasing: body[from..<to])
        }
        /// Field i is exactly the one character `c`.
        func `is`(_ i: Int, _ c: Unicode.Scalar) -> Bool {
            let b = self[i]
            return b.count == 1 && b[0] == UInt8(ascii: c)
        }
    }

    /// A decimal number as `Double(String)` reads it. Plain `[-]digits[.digits]` with at most 15
    /// digits is read directly: the digits as an integer (exact below 2^53) divided by a power
    /// of ten (exact up to 10^22), one correctly rounded division, the very Double strtod gives.
    /// Anything else (exponents, hex, '+', more digits) goes through `Double(String)`.
    static func decimal(_ b: UnsafeRawBufferPointer) -> Double? {
        var i = 0
        let negative = b.count > 0 && b[0] == UInt8(ascii: "-")
        if negative { i = 1 }
        var mantissa: UInt64 = 0, digits = 0, fraction = -1
        while i < b.count {
            let c = b[i]
            if c >= 48 && c <= 57 {
                mantissa = mantissa &* 10 &+ UInt64(c - 48)
                digits += 1
                if fraction >= 0 { fraction += 1 }
            } else if c == UInt8(ascii: "."), fraction < 0 {
                fraction = 0
            } else {
                return Double(String(decoding: b, as: UTF8.self))
            }
            i += 1
        }
        // A '.' must have digits on both sides for the direct path; 15 digits stay below 2^53.
        guard digits > 0, digits <= 15, fraction != 0, !(fraction > 0 && digits == fraction) else {
            return Double(String(decoding: b, as: UTF8.self))
        }
        let v = Double(mantissa) / powersOfTen[max(fraction, 0)]
        return negative ? -v : v
    }

    static let powersOfTen: [Double] = (0...15).map { k in (0..<k).reduce(1.0) { a, _ in a * 10 } }

    /// An integer as `Int(String)` reads it (`[+-]digits`, nil on overflow or anything else).
    static func integer(_ b: UnsafeRawBufferPointer) -> Int? {
        var i = 0, negative = false
        if b.count > 0 && (b[0] == UInt8(ascii: "-") || b[0] == UInt8(ascii: "+")) { negative = b[0] == UInt8(ascii: "-"); i = 1 }
        guard i < b.count else { return nil }
        var v = 0
        while i < b.count {
            let c = b[i]
            guard c >= 48 && c <= 57 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = negative ? m.subtractingReportingOverflow(Int(c - 48)) : m.addingReportingOverflow(Int(c - 48))
            guard !o1 && !o2 else { return nil }
            v = a
            i += 1
        }
        return v
    }

    /// Field i as a number: .some(nil) when empty (no value), nil when garbage (a bad sentence).
    static func number(_ f: Fields, _ i: Int) -> Double?? {
        let b = f[i]
        guard !b.isEmpty else { return .some(nil) }
        guard let d = decimal(b), d.isFinite else { return nil }
        return .some(d)
    }

    /// Field i as an integer, `empty` when the field is empty; nil when garbage.
    static func integer(_ f: Fields, _ i: Int, empty: Int) -> Int? {
        let b = f[i]
        return b.isEmpty ? empty : integer(b)
    }

    /// ddmm.mmmm + hemisphere → signed degrees; .some(nil) when empty, nil when broken.
    static func coordinate(_ f: Fields, _ i: Int, degreeDigits: Int) -> Double?? {
        let b = f[i]
        guard !b.isEmpty else { return .some(nil) }
        guard let v = decimal(b), v >= 0 else { return nil }
        let deg = (v / 100).rounded(.down)
        let min = v - deg * 100
        guard min < 60, deg <= (degreeDigits == 2 ? 90 : 180) else { return nil }
        let d = deg + min / 60
        if f.is(i + 1, "N") || f.is(i + 1, "E") { return .some(d) }
        if f.is(i + 1, "S") || f.is(i + 1, "W") { return .some(-d) }
        return nil
    }

    static func time(_ f: Fields, _ i: Int) -> String?? {
        let b = f[i]
        guard !b.isEmpty else { return .some(nil) }
        guard b.count >= 6, b.prefix(6).allSatisfy({ $0 >= 48 && $0 <= 57 }), decimal(b) != nil else { return nil }
        let hh = Int(b[0] - 48) * 10 + Int(b[1] - 48), mm = Int(b[2] - 48) * 10 + Int(b[3] - 48)
        guard hh < 24, mm < 60, (decimal(UnsafeRawBufferPointer(rebasing: b[4...])) ?? 99) < 61 else { return nil }
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
        guard f.count >= 10, let q = Self.integer(f, 6, empty: 0),
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
            let b = f[9], s = 0
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
        if !f.is(2, "A") {
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
        guard f.count >= 18, let m = Self.integer(f, 2, empty: 1), (1...3).contains(m) else { return false }
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
        if !f.is(6, "A") {
            current.mode = 1
            return true
        }
        guard setPosition(Self.coordinate(f, 1, degreeDigits: 2), Self.coordinate(f, 3, degreeDigits: 3)) else { return false }
        if current.mode < 2 { current.mode = 2 }
        return true
    }
}
