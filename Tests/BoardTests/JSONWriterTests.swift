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
}
