import Board
import Kernel

/// One snapshot's values, taken on the kernel; made into JSON on the outbox's worker thread.
public struct Snapshot: Sendable {
    public struct UART: Sendable {
        public var bytes, lines, bad, overlong, noise: Int
        public var reopens = 0
        public init(bytes: Int, lines: Int, bad: Int, overlong: Int, noise: Int) {
            (self.bytes, self.lines, self.bad, self.overlong, self.noise) = (bytes, lines, bad, overlong, noise)
        }
    }
    public struct FaultEntry: Sendable {
        public var role, error, since: String
    }
    /// The MQTT link as the device saw it: so a broker's misbehaviour shows remotely.
    public struct MQTT: Sendable {
        public var connects, failures, protocolErrors, oversized, acksDropped: Int
        public var lastError: String?
    }
    public var device: String
    public var reason: String
    public var time = ""
    public var uptimeMilliseconds: Int64 = 0
    public var gpio: [(String, Bool)] = []
    public var fix: Fix?
    public var cpuTemperature: Double?
    public var uart: UART?
    public var tasks: [TaskStats] = []
    public var taskTimes = true
    public var faults: [FaultEntry] = []
    public var mqtt: MQTT?
    /// Fields components add (`add`), after the stock ones, in the firmware's order.
    public private(set) var fields: [(key: String, write: @Sendable (inout JSONWriter) -> Void)] = []

    /// Adds a field: `write` writes its value (a number, a string, an object) when the payload
    /// is made, on the outbox's worker thread; so it captures values, not state.
    public mutating func add(_ key: String, _ write: @escaping @Sendable (inout JSONWriter) -> Void) {
        fields.append((key, write))
    }

    /// Adds a number field (`null` when nil), with at most `digits` decimals.
    public mutating func add(_ key: String, number: Double?, digits: Int = 3) {
        add(key) { $0.number(number, digits: digits) }
    }

    public init(device: String, reason: String) {
        self.device = device
        self.reason = reason
    }

    /// What comes just before the sequence number in a payload (the outbox searches a damaged
    /// file's bytes for it when SQLite cannot read the numbering).
    public static let seqMarker = Array(#""seq":"#.utf8)

    /// The sequence number in a snapshot payload (its `"seq":N`), nil if there is none.
    public static func seq(in payload: some Collection<UInt8>) -> Int64? {
        let key = seqMarker
        var i = payload.startIndex
        while i != payload.endIndex {
            if payload[i...].starts(with: key) {
                let digits = payload[payload.index(i, offsetBy: key.count)...].prefix { (48...57).contains($0) }.prefix(18)
                return digits.isEmpty ? nil : digits.reduce(0) { $0 * 10 + Int64($1 - 48) }
            }
            i = payload.index(after: i)
        }
        return nil
    }

    public func json(seq: Int64, outbox: Outbox.Counts) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        w.object { w in
            w.key("device"); w.string(device)
            w.key("seq"); w.int(seq)
            w.key("epoch"); w.int(outbox.epoch)
            w.key("time"); w.string(time)
            w.key("uptime_ms"); w.int(uptimeMilliseconds)
            w.key("reason"); w.string(reason)
            w.key("gpio"); w.object { w in for (role, v) in gpio { w.key(role); w.bool(v) } }
            w.key("gps")
            if let f = fix { f.write(to: &w) } else { w.null() }
            w.key("cpu_temp_c"); w.number(cpuTemperature, digits: 1)
            w.key("uart")
            if let u = uart {
                w.object { w in
                    w.key("bytes"); w.int(u.bytes)
                    w.key("lines"); w.int(u.lines)
                    w.key("bad"); w.int(u.bad)
                    w.key("overlong"); w.int(u.overlong)
                    w.key("noise"); w.int(u.noise)
                    w.key("reopens"); w.int(u.reopens)
                }
            } else { w.null() }
            w.key("outbox"); w.object { w in
                w.key("pending"); w.int(outbox.pending)
                w.key("dropped"); w.int(outbox.dropped)
                w.key("unstored"); w.int(outbox.unstored)
                w.key("lost"); w.int(outbox.lost)
                w.key("damaged"); w.int(outbox.damaged)
            }
            w.key("faults"); w.array { w in
                for f in faults {
                    w.object { w in
                        w.key("role"); w.string(f.role)
                        w.key("error"); w.string(f.error)
                        w.key("since"); w.string(f.since)
                    }
                }
            }
            if let m = mqtt {
                w.key("mqtt"); w.object { w in
                    w.key("connects"); w.int(m.connects)
                    w.key("failures"); w.int(m.failures)
                    w.key("protocol_errors"); w.int(m.protocolErrors)
                    w.key("oversized"); w.int(m.oversized)
                    w.key("acks_dropped"); w.int(m.acksDropped)
                    w.key("last_error"); if let e = m.lastError { w.string(e) } else { w.null() }
                }
            }
            w.key("tasks"); w.object { w in
                for t in tasks {
                    w.key(t.name); w.object { w in
                        w.key("switches"); w.int(t.switches)
                        if taskTimes {
                            w.key("run_ms"); w.number(Double(t.runNanoseconds) / 1e6, digits: 3)
                            w.key("longest_ms"); w.number(Double(t.longestNanoseconds) / 1e6, digits: 3)
                        }
                    }
                }
            }
            for f in fields {
                w.key(f.key)
                f.write(&w)
            }
        }
        return w.bytes
    }
}

extension Fix {
    /// As gpsd's TPV names them: mode, lat, lon, alt, speed (m/s), track (°), time, sats, hdop;
    /// position only with a fix (mode ≥ 2), altitude only in 3D.
    public func write(to w: inout JSONWriter) {
        w.object { w in
            w.key("mode"); w.int(mode)
            w.key("lat"); w.number(mode >= 2 ? lat : nil, digits: 9)
            w.key("lon"); w.number(mode >= 2 ? lon : nil, digits: 9)
            w.key("alt"); w.number(mode >= 3 ? alt : nil, digits: 3)
            w.key("speed"); w.number(speed, digits: 3)
            w.key("track"); w.number(track, digits: 2)
            w.key("time"); if let time { w.string(time) } else { w.null() }
            w.key("sats"); if let satellites { w.int(satellites) } else { w.null() }
            w.key("hdop"); w.number(hdop, digits: 2)
        }
    }
}

