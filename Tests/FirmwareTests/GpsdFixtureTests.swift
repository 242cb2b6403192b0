import Board
import Firmware
import Glibc
import KernelTestSupport
import Testing

let gpsdDir = "\(repositoryRoot)/../shared/fixtures/gpsd"

var gpsdLogs: [String] { directoryEntries(gpsdDir).filter { $0.hasSuffix(".log") } }

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

@Suite struct GpsdFixtureTests {
    @Test(arguments: gpsdLogs)
    func fixesMatchGpsd(_ name: String) throws {
        let chk = try #require(readFile("\(gpsdDir)/\(name).chk"))
        var p = NMEAParser()
        var compared = 0, mismatches: [String] = []
        for line in chk.split(whereSeparator: \.isNewline) {
            if line.hasPrefix("$") { p.parse(Array(line.utf8)[...]); continue }
            guard line.contains("\"class\":\"TPV\""), let lat = jsonNumber(line, "lat"), let lon = jsonNumber(line, "lon") else { continue }
            compared += 1
            let f = p.fix
            var bad: [String] = []
            if f.lat == nil || abs(f.lat! - lat) > 1e-6 || abs(f.lon! - lon) > 1e-6 { bad.append("lat/lon \(f.lat ?? .nan),\(f.lon ?? .nan)") }
            if let alt = jsonNumber(line, "altMSL") ?? jsonNumber(line, "alt"), f.alt == nil || abs(f.alt! - alt) > 0.01 { bad.append("alt \(f.alt ?? .nan)") }
            if let mode = jsonNumber(line, "mode"), Int(mode) != f.mode { bad.append("mode \(f.mode)") }
            if !bad.isEmpty { mismatches.append("\(line.prefix(120)) -> ours: \(bad.joined(separator: ", "))") }
        }
        #expect(mismatches.isEmpty, "\(name): \(mismatches.count) of \(compared) differ:\n\(mismatches.prefix(5).joined(separator: "\n"))")
    }
}
