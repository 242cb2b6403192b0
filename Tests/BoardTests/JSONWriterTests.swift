import Board
import Testing

/// The writer keeps UTF-8 bytes and quotes strings straight into them: plain strings whole,
/// anything with a quote, backslash or control character escaped; what it writes parses back.
@Suite struct JSONWriterTests {
    static let strings = ["", "plain", "gps_uart", "with \"quotes\"", "back\\slash", "line\nbreak\r\ttab",
                          "\u{0}\u{1}\u{1f} control", "\u{7f} del", "°C ±10", "日本語", "emoji 🛰️", "mixed \"é\"\n"]

    @Test func escapesAreTheOnesJSONNeeds() {
        func quoted(_ s: String) -> String { var t = ""; JSON.quote(s, into: &t); return t }
        #expect(quoted("plain °C") == #""plain °C""#)
        #expect(quoted("a\"b\\c") == #""a\"b\\c""#)
        #expect(quoted("\n\r\t") == #""\n\r\t""#)
        #expect(quoted("\u{0}\u{1f}\u{7f}") == "\"\\u0000\\u001f\u{7f}\"")
    }

    @Test func writtenStringsParseBack() throws {
        for s in Self.strings {
            var w = JSONWriter()
            w.object { w in w.key(s); w.string(s); w.key("n"); w.int(-7); w.key("x"); w.number(exactly: 0.25) }
            let parsed = try JSON.parse(w.text)
            #expect(parsed[s]?.string == s, "\(w.text)")
            #expect(w.bytes == Array(w.text.utf8))
        }
    }

    /// Integers are written digit by digit into the bytes: every width, both signs, the ends of
    /// the range, as `String(v)` writes them.
    @Test func integersAsStringWritesThem() {
        var w = JSONWriter()
        w.array { w in
            w.int(0); w.int(-7); w.int(Int.max); w.int(Int.min); w.int(Int64.min); w.int(UInt64.max)
            w.int(UInt8(255)); w.int(Int32(-2_147_483_648)); w.number(exactly: -12.0); w.number(exactly: 1e14)
        }
        #expect(w.text == "[0,-7,\(Int.max),\(Int.min),\(Int64.min),\(UInt64.max),255,-2147483648,-12,100000000000000]")
    }

    /// `number(_:digits:)` writes its digits from the rounded integer: the text must be the one
    /// Swift's shortest form of the rounded double gives, for every magnitude and precision.
    @Test func roundedNumbersAsSwiftWritesThem() {
        func expected(_ v: Double, _ digits: Int) -> String {
            var scale = 1.0
            for _ in 0..<min(digits, 15) { scale *= 10 }
            let q = (v * scale).rounded() / scale
            return q == q.rounded() && abs(q) < 1e15 ? String(Int64(q)) : "\(q)"
        }
        var rng = SeededRandom(seed: 28)
        var values: [Double] = [0, -0.0, 0.5, -0.5, 1e-7, 0.00049, 0.001, -0.0015, 44.068983667, -121.3142285,
                                1139.4, 21.05, 1013.25, 1e14 + 0.5, 123456789.123456, 9.999999, 0.1 + 0.2]
        for _ in 0..<20_000 {
            let magnitude = Double(rng.next() % 19) - 6   // 1e-6 ... 1e12
            var v = Double(rng.next() % 1_000_000_007) / 1_000_000_007 * pow10(magnitude)
            if rng.next() % 2 == 0 { v = -v }
            values.append(v)
        }
        for v in values {
            for digits in [0, 1, 2, 3, 6, 9, 15] {
                var w = JSONWriter()
                w.number(v, digits: digits)
                #expect(w.text == expected(v, digits), "\(v) to \(digits) digits")
            }
        }
    }
}

private func pow10(_ e: Double) -> Double {
    var r = 1.0
    for _ in 0..<Int(abs(e)) { r *= 10 }
    return e < 0 ? 1 / r : r
}
