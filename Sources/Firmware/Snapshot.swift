import Board
import Glibc
import Kernel

/// One snapshot's values, taken on the kernel; made into JSON on the outbox's worker thread.
/// The device's own (its id, the sequence number and epoch, time, uptime, reason, the outbox's
/// counts, the faults), then the fields each component adds (`add`: `gpio`, `gps`, `uart`,
/// `cpu_temp_c`, `mqtt` for the stock ones, then yours), then the tasks last: their names
/// (`gps`, `mqtt`, ...) are keys too, and a reader that greps for the first `"gps":` finds the
/// field.
public struct Snapshot: Sendable {
    public struct FaultEntry: Sendable {
        public var role, error, since: String
    }
    public var device: String
    public var reason: String
    public var time = ""
    public var uptimeMilliseconds: Int64 = 0
    public var tasks: [TaskStats] = []
    public var taskTimes = true
    public var faults: [FaultEntry] = []
    /// Fields components add (`add`), after the device's own and before the tasks, in the
    /// firmware's order.
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
        // Searched in contiguous bytes: generic collection code, which the caller in another
        // module cannot specialize, cost ~85,000 instructions per payload (callgrind, issue 28).
        if let found = payload.withContiguousStorageIfAvailable({ seq(inBytes: $0) }) { return found }
        return Array(payload).withUnsafeBufferPointer { seq(inBytes: $0) }
    }

    static func seq(inBytes p: UnsafeBufferPointer<UInt8>) -> Int64? {
        numberAfter(seqMarker, in: UnsafeRawBufferPointer(p), from: 0)?.value
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
            for f in fields {
                w.key(f.key)
                f.write(&w)
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
        }
        return w.bytes
    }
}

/// The next `marker` in `bytes` at or after `from`, and the number (up to 18 digits) right after
/// it: nil value when no digit follows; `next` is where to look for the next one. Nil when there
/// is no more marker. (A payload's sequence number; the numbers in a damaged outbox file.)
func numberAfter(_ marker: [UInt8], in bytes: UnsafeRawBufferPointer, from: Int) -> (value: Int64?, next: Int)? {
    guard let base = bytes.baseAddress, !marker.isEmpty else { return nil }
    var at = from
    while at + marker.count <= bytes.count, let hit = memchr(base + at, Int32(marker[0]), bytes.count - at - marker.count + 1) {
        let offset = base.distance(to: UnsafeRawPointer(hit))
        at = offset + 1
        guard memcmp(hit, marker, marker.count) == 0 else { continue }
        var i = offset + marker.count
        var v: Int64 = 0, digits = 0
        while i < bytes.count, digits < 18, (48...57).contains(bytes[i]) {
            v = v * 10 + Int64(bytes[i] - 48)
            i += 1
            digits += 1
        }
        return (digits > 0 ? v : nil, offset + 1)
    }
    return nil
}
