import Glibc

/// Durations as people write them in board files, scenarios and on the command line:
/// "250ms", "30s", "1.5s", "10m", "24h", "2d". A bare number is milliseconds.
public enum DurationText {
    /// Nanoseconds, or nil if `text` is not a duration.
    public static func parse(_ text: String) -> Int64? {
        let t = text.trimmingSpaces()
        let units: [(String, Double)] = [("ms", 1e6), ("us", 1e3), ("ns", 1), ("s", 1e9), ("m", 60e9), ("h", 3600e9), ("d", 86400e9)]
        for (suffix, scale) in units where t.hasSuffix(suffix) {
            guard let v = Double(t.dropLast(suffix.count)), v >= 0, v * scale < 9.2e18 else { return nil }
            return Int64((v * scale).rounded())
        }
        guard let v = Double(t), v >= 0, v * 1e6 < 9.2e18 else { return nil }
        return Int64((v * 1e6).rounded())
    }

    /// "1.250 s", "24 h": for messages and summaries.
    public static func format(_ ns: Int64) -> String {
        if ns >= 3600_000_000_000 && ns % 3600_000_000_000 == 0 { return "\(ns / 3600_000_000_000) h" }
        let ms = ns / 1_000_000
        let s = ms / 1000, frac = ms % 1000
        let f = String(frac)
        return "\(s).\(String(repeating: "0", count: 3 - f.count))\(f) s"
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and line ends.
    public func trimmingSpaces() -> String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" || c == "\r" || c == "\n" || c == "\r\n" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" || c == "\n" || c == "\r\n" { s.removeLast() }
        return String(s)
    }
}
