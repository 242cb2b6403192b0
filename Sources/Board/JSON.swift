// A small JSON reader for board files, scenarios and commands: values remember the line they
// started on, so every problem can name file, key and line; objects keep their key order.
// No Foundation (the Board module runs on the kernel and stays small).

/// A parsed JSON value and the 1-based line it starts on.
public struct JSON: Sendable, Equatable {
    public indirect enum Value: Sendable, Equatable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case array([JSON])
        /// Members in file order (duplicates kept: `JSON.parse` reports them).
        case object([(key: String, value: JSON)])

        public static func == (a: Value, b: Value) -> Bool {
            switch (a, b) {
            case (.null, .null): return true
            case let (.bool(x), .bool(y)): return x == y
            case let (.number(x), .number(y)): return x == y
            case let (.string(x), .string(y)): return x == y
            case let (.array(x), .array(y)): return x == y
            case let (.object(x), .object(y)):
                return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
            default: return false
            }
        }
    }

    public var value: Value
    public var line: Int

    public init(_ value: Value, line: Int = 0) {
        self.value = value
        self.line = line
    }

    public subscript(key: String) -> JSON? {
        if case .object(let members) = value { return members.first { $0.key == key }?.value }
        return nil
    }

    public var string: String? { if case .string(let s) = value { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = value { return b }; return nil }
    public var number: Double? { if case .number(let n) = value { return n }; return nil }
    public var array: [JSON]? { if case .array(let a) = value { return a }; return nil }
    public var members: [(key: String, value: JSON)]? { if case .object(let m) = value { return m }; return nil }
    /// The number if it is a whole number that fits an Int.
    public var int: Int? {
        guard let n = number, n == n.rounded(), abs(n) < 9e15 else { return nil }
        return Int(n)
    }

    /// What kind of value this is, for messages ("expected a string, found a number").
    public var kind: String {
        switch value {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number: return "a number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

public struct JSONSyntaxError: Error, Equatable, CustomStringConvertible {
    public let line: Int
    public let column: Int
    public let message: String
    public var description: String { "line \(line), column \(column): \(message)" }
}

extension JSON {
    /// Parses one JSON document (RFC 8259). Nesting deeper than `maxDepth` is an error, so
    /// hostile input cannot exhaust the stack.
    public static func parse(_ text: String, maxDepth: Int = 64) throws(JSONSyntaxError) -> JSON {
        try parse(bytes: Array(text.utf8), maxDepth: maxDepth)
    }

    public static func parse(bytes: [UInt8], maxDepth: Int = 64) throws(JSONSyntaxError) -> JSON {
        var p = Parser(bytes: bytes, maxDepth: maxDepth)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        if p.i < p.bytes.count { throw p.fail("unexpected text after the end of the document") }
        return v
    }

    private struct Parser {
        let bytes: [UInt8]
        let maxDepth: Int
        var i = 0
        var line = 1
        var lineStart = 0

        init(bytes: [UInt8], maxDepth: Int) {
            self.bytes = bytes
            self.maxDepth = maxDepth
        }

        func fail(_ m: String) -> JSONSyntaxError {
            JSONSyntaxError(line: line, column: i - lineStart + 1, message: m)
        }

        mutating func skipSpace() {
            while i < bytes.count {
                switch bytes[i] {
                case 0x20, 0x09, 0x0D: i += 1
                case 0x0A: i += 1; line += 1; lineStart = i
                default: return
                }
            }
        }

        mutating func value(depth: Int) throws(JSONSyntaxError) -> JSON {
            guard i < bytes.count else { throw fail("unexpected end of the document") }
            let at = line
            switch bytes[i] {
            case UInt8(ascii: "{"):
                guard depth < maxDepth else { throw fail("nested deeper than \(maxDepth) levels") }
                i += 1
                var members: [(key: String, value: JSON)] = []
                skipSpace()
                if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return JSON(.object(members), line: at) }
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a quoted key") }
                    let k = try string()
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':' after key \"\(k)\"") }
                    i += 1
                    skipSpace()
                    members.append((k, try value(depth: depth + 1)))
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end of the document inside an object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return JSON(.object(members), line: at) }
                    throw fail("expected ',' or '}' in an object")
                }
            case UInt8(ascii: "["):
                guard depth < maxDepth else { throw fail("nested deeper than \(maxDepth) levels") }
                i += 1
                var items: [JSON] = []
                skipSpace()
                if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return JSON(.array(items), line: at) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end of the document inside an array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return JSON(.array(items), line: at) }
                    throw fail("expected ',' or ']' in an array")
                }
            case UInt8(ascii: "\""):
                return JSON(.string(try string()), line: at)
            case UInt8(ascii: "t"): try word("true"); return JSON(.bool(true), line: at)
            case UInt8(ascii: "f"): try word("false"); return JSON(.bool(false), line: at)
            case UInt8(ascii: "n"): try word("null"); return JSON(.null, line: at)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return JSON(.number(try number()), line: at)
            default:
                throw fail("unexpected \(describe(bytes[i]))")
            }
        }

        /// A byte as an error message shows it: a printable ASCII character quoted, anything else
        /// (a control byte, a byte of a UTF-8 sequence) as hex, never as the Latin-1 letter it
        /// is not.
        func describe(_ b: UInt8) -> String {
            (0x21...0x7E).contains(b) ? "character '\(Character(Unicode.Scalar(b)))'" : "byte 0x\(b < 16 ? "0" : "")\(String(b, radix: 16, uppercase: true))"
        }

        mutating func word(_ w: StaticString) throws(JSONSyntaxError) {
            let n = w.utf8CodeUnitCount
            guard i + n <= bytes.count else { throw fail("unexpected end of the document") }
            for k in 0..<n where bytes[i + k] != w.utf8Start[k] { throw fail("expected \(w)") }
            i += n
        }

        mutating func number() throws(JSONSyntaxError) -> Double {
            let start = i
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            func digits(_ p: inout Parser) -> Int {
                let s = p.i
                while p.i < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.i]) { p.i += 1 }
                return p.i - s
            }
            if digits(&self) == 0 { throw fail("expected digits in a number") }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                if digits(&self) == 0 { throw fail("expected digits after '.'") }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                if digits(&self) == 0 { throw fail("expected digits in an exponent") }
            }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            guard let d = Double(text) else { throw fail("bad number \(text)") }
            // A number beyond a Double's range (1e999) would read as infinity and print as null.
            guard d.isFinite else {
                i = start   // the error points at the number
                throw fail("number \(text) is out of range")
            }
            return d
        }

        mutating func hex4() throws(JSONSyntaxError) -> UInt32 {
            guard i + 4 <= bytes.count else { throw fail("unexpected end of the document in \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                let d: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
                default: throw fail("bad hex digit in \\u escape")
                }
                v = v << 4 | UInt32(d)
                i += 1
            }
            return v
        }

        mutating func string() throws(JSONSyntaxError) -> String {
            i += 1   // opening quote
            var out: [UInt8] = []
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let c = bytes[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c < 0x20 { throw fail("control character in a string (escape it)") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var u = try hex4()
                    if (0xD800..<0xDC00).contains(u) {
                        guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate in \\u escape")
                        }
                        i += 2
                        let lo = try hex4()
                        guard (0xDC00..<0xE000).contains(lo) else { throw fail("unpaired surrogate in \\u escape") }
                        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(u) else { throw fail("invalid \\u escape") }
                    out.append(contentsOf: Array(String(Character(scalar)).utf8))
                default: throw fail("unknown escape \\ followed by \(describe(e))")
                }
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
            return s
        }
    }
}

extension JSON {
    /// Compact JSON text (keys in their order).
    public var text: String {
        var w = JSONWriter()
        write(to: &w)
        return w.text
    }

    public func write(to w: inout JSONWriter) {
        switch value {
        case .null: w.null()
        case .bool(let b): w.bool(b)
        case .number(let n): w.number(exactly: n)
        case .string(let s): w.string(s)
        case .array(let a): w.array { w in for v in a { v.write(to: &w) } }
        case .object(let m): w.object { w in for kv in m { w.key(kv.key); kv.value.write(to: &w) } }
        }
    }

    /// Appends `s` as a JSON string literal, as UTF-8.
    public static func quote(_ s: String, into out: inout [UInt8]) {
        // A native string's bytes in place; any other (bridged, say) made contiguous first.
        if s.utf8.withContiguousStorageIfAvailable({ quote(utf8: $0, into: &out) }) != nil { return }
        var copy = s
        copy.withUTF8 { quote(utf8: $0, into: &out) }
    }

    private static func quote(utf8 u: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var plain = true
        for b in u where b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") { plain = false; break }
        if plain {
            out.append(contentsOf: u)   // nearly every string: no escape
        } else {
            for b in u {
                switch b {
                case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
                case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
                case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
                case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]]
                default: out.append(b)   // UTF-8 bytes of other scalars, as they are
                }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends `s` as a JSON string literal.
    public static func quote(_ s: String, into out: inout String) {
        var b: [UInt8] = []
        quote(s, into: &b)
        out += String(decoding: b, as: UTF8.self)
    }
}

/// Writes compact JSON text as it goes (no tree); commas are placed for you.
///
///     var w = JSONWriter()
///     w.object { w in w.key("seq"); w.int(7); w.key("gps"); w.null() }   // {"seq":7,"gps":null}
///
/// The text is kept as UTF-8 bytes (`bytes`; `text` makes the String): appending to a byte
/// array is a copy, appending to a String a few hundred instructions each time.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8] = []
    public var text: String { String(decoding: bytes, as: UTF8.self) }
    /// Bit d set: the container at depth d has a member already (the next needs a comma);
    /// containers deeper than 64 (rare: parsed documents only) keep theirs in `deeper`.
    private var filled: UInt64 = 0
    private var deeper: [Bool] = []
    private var depth = 0
    private var afterKey = false

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    @inline(__always) private mutating func put(_ c: UInt8) { bytes.append(c) }
    private mutating func put(_ s: String) { bytes.append(contentsOf: s.utf8) }

    /// `v` in decimal, written straight into the bytes (`String(v)` made a string first: ~590
    /// instructions a number, callgrind, issue 28).
    private mutating func putDecimal(_ v: Int64) {
        if v < 0 { put(UInt8(ascii: "-")) }
        var u = v.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var i = 20
            repeat {
                i -= 1
                digits[i] = UInt8(truncatingIfNeeded: u % 10) &+ UInt8(ascii: "0")
                u /= 10
            } while u != 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i...]))
        }
    }

    private mutating func separate() {
        if afterKey { afterKey = false; return }
        guard depth > 0 else { return }
        if depth > 64 {
            if deeper[depth - 65] { put(UInt8(ascii: ",")) } else { deeper[depth - 65] = true }
            return
        }
        let bit: UInt64 = 1 << UInt64(depth - 1)
        if filled & bit != 0 { put(UInt8(ascii: ",")) } else { filled |= bit }
    }

    /// The next value's key (inside an object).
    public mutating func key(_ key: String) {
        separate()
        JSON.quote(key, into: &bytes)
        put(UInt8(ascii: ":"))
        afterKey = true
    }

    public mutating func object(_ body: (inout JSONWriter) -> Void) { open(UInt8(ascii: "{")); body(&self); close(UInt8(ascii: "}")) }
    public mutating func array(_ body: (inout JSONWriter) -> Void) { open(UInt8(ascii: "[")); body(&self); close(UInt8(ascii: "]")) }
    public mutating func string(_ s: String) { separate(); JSON.quote(s, into: &bytes) }
    public mutating func int<I: BinaryInteger>(_ v: I) {
        separate()
        if let d = Int64(exactly: v) { putDecimal(d) } else { put(String(v)) }
    }
    /// The common cases, without the generic conversion (a caller in another module gets the
    /// unspecialized `int<I>`).
    public mutating func int(_ v: Int) { separate(); putDecimal(Int64(v)) }
    public mutating func int(_ v: Int64) { separate(); putDecimal(v) }
    public mutating func bool(_ b: Bool) { separate(); put(b ? "true" : "false") }
    public mutating func null() { separate(); put("null") }

    /// At most `digits` decimals, trailing zeros dropped; NaN and infinities (not JSON) as null.
    public mutating func number(_ v: Double, digits: Int = 6) {
        guard v.isFinite else { number(exactly: v); return }
        let d = max(0, min(digits, 15))
        var scale = 1.0, p: Int64 = 1
        for _ in 0..<d { scale *= 10; p *= 10 }
        let scaled = (v * scale).rounded()
        // Written from the integer: the same text as Swift's shortest form of scaled / scale
        // (a decimal of at most 15 significant digits is the shortest that reads back as that
        // double), without making a String (~1,000 instructions a number, callgrind, issue 28).
        // Outside these bounds Swift's form can differ (an exponent), so it is used as it is.
        if abs(scaled) < 1e15, abs(scaled) >= 1e-3 * scale {
            let n = Int64(scaled)
            let (whole, frac) = (n / p, (n % p).magnitude)
            guard frac != 0 else { separate(); putDecimal(whole); return }
            separate()
            if n < 0 { put(UInt8(ascii: "-")) }
            putDecimal(Int64(whole.magnitude))
            put(UInt8(ascii: "."))
            // The fraction's d digits, leading zeros kept, trailing zeros dropped.
            var f = frac, width = d
            while f % 10 == 0 { f /= 10; width -= 1 }
            var lead = p.magnitude / 10
            for _ in 0..<(d - width) { lead /= 10 }
            while lead > f { put(UInt8(ascii: "0")); lead /= 10 }
            putDecimal(Int64(f))
            return
        }
        number(exactly: scaled / scale)
    }

    /// As it is: integral values as integers, others in Swift's shortest round-trip form (may
    /// be 1e-05, which JSON allows); NaN and infinities as null.
    public mutating func number(exactly v: Double) {
        separate()
        guard v.isFinite else { put("null"); return }
        if v == v.rounded(), abs(v) < 1e15 { putDecimal(Int64(v)); return }   // also no "-0"
        put("\(v)")
    }

    public mutating func number(_ v: Double?, digits: Int = 6) {
        if let v { number(v, digits: digits) } else { null() }
    }

    private mutating func open(_ c: UInt8) {
        separate()
        put(c)
        depth += 1
        if depth > 64 { deeper.append(false) } else { filled &= ~(1 << UInt64(depth - 1)) }
    }

    private mutating func close(_ c: UInt8) {
        if depth > 64 { deeper.removeLast() }
        depth -= 1
        put(c)
    }
}
