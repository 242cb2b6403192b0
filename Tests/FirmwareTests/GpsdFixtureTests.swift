import Board
import Firmware
import Glibc
import KernelTestSupport
import Testing

/// A number field of a gpsd JSON report line ("lat", "altMSL", ...).

func jsonNumber(_ line: Substring, _ key: String) -> Double? {
    let needle = "\"\(key)\":"
    var i = line.startIndex
    while i < line.endIndex {
        if line[i...].hasPrefix(needle) {
            return Double(line[line.index(i, offsetBy: needle.count)...].prefix { $0 == "-" || $0 == "." || $0 == "e" || $0 == "+" || $0.isNumber })
        }
        i = line.index(after: i)
    }
    return nil
}

/// A string field of a gpsd JSON report line ("time").
func jsonString(_ line: Substring, _ key: String) -> Substring? {
    guard let r = line.firstRange(of: "\"\(key)\":\"") else { return nil }
    return line[r.upperBound...].prefix { $0 != "\"" }
}

/// "hh:mm:ss.s" of "2034-11-01T17:19:47.000Z" (gpsd) or "2015-03-18T17:19:47.00" (ours).
func timeOfDay(_ s: Substring) -> Substring {
    (s.lastIndex(of: "T").map { s[s.index(after: $0)...] } ?? s).prefix(10)
}

@Suite struct GpsdFixtureTests {
    @Test(arguments: gpsdLogs)
    func fixesMatchGpsd(_ name: String) throws {
        let chk = try #require(readFile("\(repositoryRoot)/\(name).chk"))
        var p = NMEAParser()
        var compared = 0, published = 0, mismatches: [String] = []
        for line in chk.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("$") { p.parse(Array(line.utf8)[...]); continue }
            guard line.contains("\"class\":\"TPV\""), let lat = jsonNumber(line, "lat"), let lon = jsonNumber(line, "lon") else { continue }
            compared += 1
            let f = p.current
            var bad: [String] = []
            if f.lat == nil || abs(f.lat! - lat) > 1e-6 || abs(f.lon! - lon) > 1e-6 { bad.append("lat/lon \(f.lat ?? .nan),\(f.lon ?? .nan)") }
            if let alt = jsonNumber(line, "altMSL") ?? jsonNumber(line, "alt"), f.alt == nil || abs(f.alt! - alt) > 0.01 { bad.append("alt \(f.alt ?? .nan)") }
            if let mode = jsonNumber(line, "mode"), Int(mode) != f.mode { bad.append("mode \(f.mode)") }
            if !bad.isEmpty { mismatches.append("\(line.prefix(120)) -> ours: \(bad.joined(separator: ", "))") }
            // The published (whole-epoch) fix, when it is of the same time of day as gpsd's
            // report, is gpsd's too. (gpsd's dates carry its week-rollover guess: not compared.)
            if let t = jsonString(line, "time"), let c = p.fix.time, timeOfDay(t) == timeOfDay(Substring(c)) {
                published += 1
                if p.fix.lat == nil || abs(p.fix.lat! - lat) > 1e-6 || abs(p.fix.lon! - lon) > 1e-6 {
                    mismatches.append("\(line.prefix(120)) -> published fix \(p.fix.lat ?? .nan),\(p.fix.lon ?? .nan)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(name): \(mismatches.count) of \(compared) (\(published) published) differ:\n\(mismatches.prefix(5).joined(separator: "\n"))")
    }
}
