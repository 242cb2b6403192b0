import Board
import Glibc
import Kernel

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
