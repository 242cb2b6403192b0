import Board
import Testing

/// The writer keeps UTF-8 bytes and quotes strings straight into them; `JSON.quote(into:
/// String)` is the scalar-by-scalar original. Both must write the same text, and what they
/// write must parse back to the string.
@Suite struct JSONWriterTests {
    static let strings = ["", "plain", "gps_uart", "with \"quotes\"", "back\\slash", "line\nbreak\r\ttab",
                          "\u{0}\u{1}\u{1f} control", "\u{7f} del", "°C ±10", "日本語", "emoji 🛰️", "mixed \"é\"\n"]

    @Test func bytesAndStringQuotingAgree() {
        for s in Self.strings {
            var text = ""
            JSON.quote(s, into: &text)
            var bytes: [UInt8] = []
            JSON.quote(s, into: &bytes)
            #expect(Array(text.utf8) == bytes, "\(s.debugDescription)")
        }
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
