/// ISO 8601 UTC with milliseconds, e.g. "2026-11-22T10:15:30.250Z" (no Foundation needed).
public func iso8601(unixNanoseconds ns: Int64) -> String {
    let ms = ns / 1_000_000
    var days = ms / 86_400_000
    var rem = ms % 86_400_000
    if rem < 0 { rem += 86_400_000; days -= 1 }
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
    var y = yoe + era * 400
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    if m <= 2 { y += 1 }
    func p(_ v: Int64, _ w: Int) -> String { let s = String(v); return String(repeating: "0", count: max(0, w - s.count)) + s }
    return "\(p(y, 4))-\(p(m, 2))-\(p(d, 2))T\(p(rem / 3_600_000, 2)):\(p(rem / 60_000 % 60, 2)):\(p(rem / 1000 % 60, 2)).\(p(rem % 1000, 3))Z"
}

/// Parses "2026-01-01T00:00:00Z" (UTC, optional fraction) to Unix nanoseconds.
public func parseISO8601(_ s: String) -> Int64? {
    let b = Array(s.utf8)
    guard b.count >= 20, b.last == UInt8(ascii: "Z") else { return nil }
    func num(_ r: Range<Int>) -> Int64? {
        var v: Int64 = 0
        for i in r { guard (48...57).contains(b[i]) else { return nil }; v = v * 10 + Int64(b[i] - 48) }
        return v
    }
    guard let y = num(0..<4), b[4] == 45, let mo = num(5..<7), b[7] == 45, let d = num(8..<10), b[10] == 84,
          let h = num(11..<13), b[13] == 58, let mi = num(14..<16), b[16] == 58, let se = num(17..<19),
          (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61 else { return nil }
    var fracNs: Int64 = 0
    if b[19] == 46 {
        var scale: Int64 = 100_000_000
        for i in 20..<(b.count - 1) {
            guard (48...57).contains(b[i]) else { return nil }
            fracNs += Int64(b[i] - 48) * scale
            scale /= 10
        }
    } else if b.count != 20 { return nil }
    let yy = mo <= 2 ? y - 1 : y
    let era = (yy >= 0 ? yy : yy - 399) / 400
    let yoe = yy - era * 400
    let doy = (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    let days = era * 146_097 + doe - 719_468
    return ((days * 86400 + h * 3600 + mi * 60 + se) * 1_000_000_000) + fracNs
}
