import Board
import Glibc
import Kernel

/// Everything observable that happened in a simulated world, in order: GPIO levels, UART bytes,
/// network events, broker traffic. Each event is folded into a running 64-bit digest (with its
/// virtual time and any bytes it carried), so two runs compare by one number without keeping
/// the log; an optional Chrome trace writer keeps it as a file for Perfetto.
///
/// The digest takes eight bytes per step (FNV-1a's multiply on a whole word, then the high half
/// folded into the low): a simulated day is about 4 million events, and FNV-1a byte by byte,
/// a chain of dependent multiplies, was 8% of it.
@KernelActor
public final class EventLog {
    public private(set) var count = 0
    private var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    public var trace: ChromeTrace?
    /// Called for every event (tests and scenario steps watch the log through it).
    public var observers: [(SimEvent) -> Void] = []

    public nonisolated init() {}

    /// The digest so far as 16 hex digits.
    public var digest: String {
        let h = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h
    }

    @inline(__always) private func mix(_ word: UInt64) {
        hash = (hash ^ word) &* 0x100_0000_01b3
        hash ^= hash >> 32
    }

    /// Bytes eight at a time, the last word padded with zeros, then the count (so "a" and "a\0"
    /// differ).
    @inline(__always) private func mix(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        while i + 8 <= bytes.count {
            mix(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        var tail: UInt64 = 0, shift: UInt64 = 0
        while i < bytes.count { tail |= UInt64(bytes[i]) << shift; shift += 8; i += 1 }
        mix(tail)
        mix(UInt64(bytes.count))
    }

    public func record(_ kind: SimEvent.Kind, _ subject: String, value: Int64 = 0, bytes: [UInt8]? = nil) {
        if let bytes {
            bytes.withUnsafeBytes { record(kind, subject, value: value, rawBytes: $0) }
        } else {
            record(kind, subject, value: value, rawBytes: nil)
        }
    }

    /// The hot path (a UART chunk, a network segment): hashes the bytes where they are and
    /// copies them only for a trace or an observer.
    public func record(_ kind: SimEvent.Kind, _ subject: String, value: Int64 = 0, rawBytes: UnsafeRawBufferPointer?) {
        count += 1
        let now = Kernel.now
        mix(UInt64(bitPattern: now))
        mix(UInt64(kind.code))
        var s = subject
        s.withUTF8 { mix(UnsafeRawBufferPointer($0)) }
        mix(UInt64(bitPattern: value))
        if let b = rawBytes { mix(b) } else { mix(UInt64.max) }
        if trace != nil || !observers.isEmpty {
            let e = SimEvent(time: now, kind: kind, subject: subject, value: value, bytes: rawBytes.map { Array($0) })
            trace?.event(e)
            for o in observers { o(e) }
        }
    }
}

public struct SimEvent: Sendable {
    public enum Kind: String, Sendable {
        /// value: the level (0/1) an output was set to / an input was driven to.
        case gpioOut = "gpio.out", gpioIn = "gpio.in"
        /// bytes: what the firmware read / wrote; value: bytes lost to a full buffer (rx).
        case uartRx = "uart.rx", uartTx = "uart.tx", uartOverrun = "uart.overrun"
        /// subject: "host:port#n"; value: bytes (send) or 0.
        case netConnect = "net.connect", netRefused = "net.refused", netTimeout = "net.timeout"
        case netSend = "net.send", netClose = "net.close", netReset = "net.reset"
        case netDown = "net.down", netUp = "net.up"
        /// subject: topic (publish) or client id; bytes: payload.
        case brokerConnect = "broker.connect", brokerDisconnect = "broker.disconnect"
        case brokerPublish = "broker.publish", brokerDrop = "broker.drop"
        /// Scenario steps as they start; subject: the step.
        case step = "scenario.step"

        /// The kind's number in the digest.
        var code: UInt8 {
            switch self {
            case .gpioOut: 1
            case .gpioIn: 2
            case .uartRx: 3
            case .uartTx: 4
            case .uartOverrun: 5
            case .netConnect: 6
            case .netRefused: 7
            case .netTimeout: 8
            case .netSend: 9
            case .netClose: 10
            case .netReset: 11
            case .netDown: 12
            case .netUp: 13
            case .brokerConnect: 14
            case .brokerDisconnect: 15
            case .brokerPublish: 16
            case .brokerDrop: 17
            case .step: 18
            }
        }
    }

    public var time: Int64
    public var kind: Kind
    public var subject: String
    public var value: Int64
    public var bytes: [UInt8]?
}

/// Chrome trace event JSON (opens in Perfetto and chrome://tracing), written as the run goes.
/// Tasks' jobs are slices on the "kernel" process (their virtual start; their length is the real
/// CPU time the job took); GPIO levels are counter tracks; UART, network and broker events are
/// instants on the "board" process. At most `limit` events are written (a day of UART chunks
/// would be gigabytes); the file says when it stopped.
@KernelActor
public final class ChromeTrace {
    public let path: String
    public let limit: Int
    public private(set) var written = 0
    private var fd: Int32
    private var buffer: [UInt8] = []
    private var tids: [String: Int] = [:]

    public init(path: String, limit: Int = 2_000_000) throws {
        self.path = path
        self.limit = limit
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw BoardError.system(call: "open", errno: errno, what: path) }
        buffer.reserveCapacity(1 << 16)
        append("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n")
        append("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"args\":{\"name\":\"kernel tasks\"}},\n")
        append("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":2,\"args\":{\"name\":\"board\"}}")
    }

    private func append(_ s: String) {
        buffer.append(contentsOf: s.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    private func flush() {
        buffer.withUnsafeBytes { b in
            var off = 0
            while off < b.count {
                let n = write(fd, b.baseAddress! + off, b.count - off)
                if n <= 0 { if n < 0 && errno == EINTR { continue }; break }
                off += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private func tid(_ pid: Int, _ name: String) -> Int {
        if let t = tids[name] { return t }
        let t = tids.count + 1
        tids[name] = t
        var s = ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":\(pid),\"tid\":\(t),\"args\":{\"name\":"
        JSON.quote(name, into: &s)
        s += "}}"
        append(s)
        return t
    }

    private func micros(_ ns: Int64) -> String {
        let us = ns / 1000, frac = ns % 1000
        let f = String(frac)
        return "\(us).\(String(repeating: "0", count: 3 - f.count))\(f)"
    }

    private func room() -> Bool {
        if written < limit { written += 1; return true }
        if written == limit {
            written += 1
            append(",\n{\"name\":\"trace limit reached: later events not written\",\"ph\":\"i\",\"s\":\"g\",\"ts\":0,\"pid\":2,\"tid\":0}")
        }
        return false
    }

    /// A task's job (from `KernelOptions.onJob`).
    public func job(_ j: JobRecord) {
        guard room() else { return }
        let t = tid(1, "task " + j.task)
        append(",\n{\"name\":\"run\",\"cat\":\"task\",\"ph\":\"X\",\"pid\":1,\"tid\":\(t),\"ts\":\(micros(j.start)),\"dur\":\(micros(max(j.nanoseconds, 1)))}")
    }

    func event(_ e: SimEvent) {
        guard room() else { return }
        let ts = micros(e.time)
        switch e.kind {
        case .gpioOut, .gpioIn:
            var s = ",\n{\"name\":"
            JSON.quote("gpio " + e.subject, into: &s)
            s += ",\"ph\":\"C\",\"pid\":2,\"ts\":\(ts),\"args\":{\"level\":\(e.value)}}"
            append(s)
        default:
            let track = e.kind.rawValue.split(separator: ".").first.map(String.init) ?? "board"
            let t = tid(2, track + (e.kind == .step ? "" : " " + e.subject.split(separator: "#").first.map(String.init)!))
            var s = ",\n{\"name\":"
            JSON.quote(e.kind.rawValue + (e.value != 0 ? " \(e.value)" : ""), into: &s)
            s += ",\"ph\":\"i\",\"s\":\"t\",\"pid\":2,\"tid\":\(t),\"ts\":\(ts),\"args\":{\"subject\":"
            JSON.quote(e.subject, into: &s)
            if let b = e.bytes {
                s += ",\"bytes\":\(b.count),\"text\":"
                JSON.quote(String(decoding: b.prefix(96).map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: ".") }, as: UTF8.self), into: &s)
            }
            s += "}}"
            append(s)
        }
    }

    /// Ends the JSON document and closes the file.
    public func finish() {
        guard fd >= 0 else { return }
        append("\n]}\n")
        flush()
        close(fd)
        fd = -1
    }
}
