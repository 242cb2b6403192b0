import Board
import Kernel

/// What a simulated UART receives: an NMEA log replayed one epoch (one burst of sentences) per
/// period, generated garbage, bit errors, or a mix; all chance from one seeded stream.
public struct UARTSourceConfig: Sendable {
    /// The log's bytes with `#` comment lines removed, cut into epochs.
    public var epochs: [[UInt8]] = []
    public var periodNanoseconds: Int64 = 1_000_000_000
    public var loop = true
    /// Chance per byte of one flipped bit.
    public var byteErrorRate = 0.0
    /// Bursts of 1-80 random bytes per hour (between epochs when replaying).
    public var garbagePerHour = 0.0
    /// The receive FIFO's interrupt level: the reader wakes when this many bytes wait, or 4
    /// character times after the line went quiet. 16 is a Pi's PL011 (32-byte FIFO, interrupt
    /// at half full); a 16550A is usually set to 8.
    public var rxTrigger = 16
    /// The tty layer's buffer: bytes beyond this while nobody reads are lost (counted).
    public var rxBuffer = 4096

    public init() {}

    /// An NMEA log's bytes as a receiver sends them: `#` lines (gpsd's comments) dropped,
    /// everything else byte for byte, cut into epochs: a new epoch starts at a sentence whose
    /// UTC time (GGA, RMC, GLL, ZDA, GNS) differs from the current epoch's, or after 40 lines.
    public static func nmeaEpochs(_ file: [UInt8]) -> [[UInt8]] {
        var epochs: [[UInt8]] = []
        var current: [UInt8] = []
        var currentTime: ArraySlice<UInt8>? = nil
        var lines = 0
        var i = 0
        while i < file.count {
            var j = i
            while j < file.count && file[j] != 0x0A { j += 1 }
            let end = j < file.count ? j + 1 : j
            let line = file[i..<end]
            i = end
            if line.first == UInt8(ascii: "#") { continue }
            if let t = sentenceTime(line) {
                if let c = currentTime, c != t, !current.isEmpty { epochs.append(current); current = []; lines = 0 }
                currentTime = t
            }
            if lines >= 40 { epochs.append(current); current = []; lines = 0 }
            current.append(contentsOf: line)
            lines += 1
        }
        if !current.isEmpty { epochs.append(current) }
        return epochs
    }

    /// The hhmmss field of sentences that carry a time of fix.
    static func sentenceTime(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        guard line.count > 7, line.first == UInt8(ascii: "$") else { return nil }
        let s = line.startIndex
        let type = String(decoding: line[(s + 3)..<(s + 6)], as: UTF8.self)
        let field: Int
        switch type {
        case "GGA", "RMC", "ZDA", "GNS": field = 1
        case "GLL": field = 5
        default: return nil
        }
        var k = 0, start = s
        for idx in line.indices where line[idx] == UInt8(ascii: ",") || line[idx] == UInt8(ascii: "*") {
            if k == field { return idx > start + 1 ? line[(start + 1)..<idx] : nil }
            k += 1
            start = idx
        }
        return nil
    }
}

/// A simulated UART: the world's byte stream paced at the port's baud rate in (virtual) time,
/// delivered the way a 16550 and the tty layer deliver it; what the firmware writes is paced out
/// the same way and kept for scenario steps.
@KernelActor
public final class SimUART: SerialPort {
    public let role: String
    public let path: String
    public let settings: SerialSettings
    public let config: UARTSourceConfig
    let log: EventLog
    private var rng: SeededRandom
    let charNs: Int64
    /// Kernel time the world started: epoch k begins at origin + k × period.
    let origin: Int64

    /// A stretch of bytes on the wire: byte j's stop bit ends at start + (j + 1) × character time.
    private struct Burst {
        var start: Int64
        var bytes: ArraySlice<UInt8>
    }
    /// The front burst is being read (from `pos`); the ones behind it were generated ahead, so
    /// the bytes that have arrived (and wait in the tty buffer) are all known.
    private var queue: [Burst] = []
    private var pos = 0
    private var generatedEnd: Int64
    private var exhausted = false
    private var epoch = 0
    private var lastStart: Int64 = 0
    private var nextBitError = 0.0
    var isOpen = false

    /// Bytes handed to the firmware, and bytes lost to a full buffer.
    public private(set) var delivered = 0
    public private(set) var overruns = 0
    /// The last bytes received and sent (for `wait_serial` steps), with running totals.
    public private(set) var rxTail = ByteTail()
    public private(set) var txTail = ByteTail()
    /// Woken on every read or write.
    public let activity = Notify()
    private var txDoneAt: Int64 = 0

    init(role: String, path: String, settings: SerialSettings, config: UARTSourceConfig, seed: UInt64, log: EventLog, origin: Int64) {
        self.origin = origin
        generatedEnd = origin
        lastStart = origin
        self.role = role
        self.path = path
        self.settings = settings
        self.config = config
        self.log = log
        rng = SeededRandom(seed: seed, stream: "uart." + role)
        charNs = settings.characterNanoseconds
        nextBitError = config.byteErrorRate > 0 ? rng.exponential(mean: 1 / config.byteErrorRate) : .infinity
    }

    /// Called when the firmware opens the port: what the line carried before is gone.
    func opened() {
        isOpen = true
        let now = Kernel.now
        if !config.epochs.isEmpty, queue.isEmpty {
            epoch = max(epoch, Int((now - origin + config.periodNanoseconds - 1) / config.periodNanoseconds))
        }
        lastStart = max(lastStart, now)
    }

    public func close() { isOpen = false }

    /// The simulated device never goes away by itself: a reopen after `close()` is refused as
    /// on hardware (the board took it back).
    public func reopen() throws {
        guard isOpen else { throw BoardError.closed(what: "serial port \(path) (role '\(role)')") }
    }

    /// Appends the next burst of the stream to the queue; false when the stream has ended.
    private func generate() -> Bool {
        if exhausted { return false }
        var bytes: [UInt8] = []
        var start: Int64
        if !config.epochs.isEmpty {
            if !config.loop && epoch >= config.epochs.count { exhausted = true; return false }
            start = origin + Int64(epoch) * config.periodNanoseconds
            bytes = config.epochs[epoch % config.epochs.count]
            epoch += 1
            let perEpoch = config.garbagePerHour * Double(config.periodNanoseconds) / 3.6e12
            if rng.chance(perEpoch) { bytes = garbage() + bytes }
        } else if config.garbagePerHour > 0 {
            start = lastStart + Int64(rng.exponential(mean: 3.6e12 / config.garbagePerHour))
            bytes = garbage()
        } else {
            exhausted = true
            return false
        }
        if config.byteErrorRate > 0 {
            var k = 0
            while Double(k) + nextBitError < Double(bytes.count) {
                k += Int(nextBitError)
                bytes[k] ^= 1 << UInt8(rng.int(in: 0...(settings.dataBits - 1)))
                k += 1
                nextBitError = rng.exponential(mean: 1 / config.byteErrorRate)
            }
            nextBitError -= Double(bytes.count - k)
        }
        let at = max(start, generatedEnd)
        queue.append(Burst(start: at, bytes: bytes[...]))
        generatedEnd = at + Int64(bytes.count) * charNs
        lastStart = at
        return true
    }

    private func arrived(_ b: Burst, _ now: Int64) -> Int {
        now < b.start ? 0 : min(b.bytes.count, Int((now - b.start) / charNs))
    }

    /// A reader that fell behind: everything that arrived and was not read waits in the tty
    /// buffer; what does not fit in `rxBuffer` is lost, newest first, as n_tty drops it, and
    /// counted. The kept bytes and the ones still to come stay on their original schedule.
    /// Bursts are generated up to `now` one at a time and trimmed as they come, so a reader
    /// that never reads costs at most the buffer's worth of memory.
    private func dropOverflow(_ now: Int64) {
        while true {
            trim(now)
            guard let last = queue.last, last.start <= now, generate() else { return }
        }
    }

    private func trim(_ now: Int64) {
        var backlog = 0
        for (i, b) in queue.enumerated() { backlog += max(0, arrived(b, now) - (i == 0 ? pos : 0)) }
        guard backlog > config.rxBuffer else { return }
        var keep = config.rxBuffer, lost = 0
        var out: [Burst] = []
        for (i, b) in queue.enumerated() {
            let from = i == 0 ? pos : 0
            let arr = arrived(b, now)
            let kept = min(keep, max(0, arr - from))
            keep -= kept
            lost += max(0, arr - from - kept)
            let base = b.bytes.startIndex
            if kept > 0 { out.append(Burst(start: b.start + Int64(from) * charNs, bytes: b.bytes[(base + from)..<(base + from + kept)])) }
            if arr < b.bytes.count { out.append(Burst(start: b.start + Int64(arr) * charNs, bytes: b.bytes[(base + arr)...])) }
        }
        queue = out
        pos = 0
        overruns += lost
        log.record(.uartOverrun, role, value: Int64(lost))
    }

    private func garbage() -> [UInt8] {
        (0..<rng.int(in: 1...80)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        guard isOpen else { throw BoardError.closed(what: "serial port \(path) (role '\(role)')") }
        if buffer.count == 0 { return 0 }
        while true {
            while let f = queue.first, pos >= f.bytes.count {
                queue.removeFirst()
                pos = 0
            }
            if queue.isEmpty {
                if !generate() { try await sleep(until: .max) }   // the stream has ended: nothing will come
                continue
            }
            let now = Kernel.now
            // Usually the front burst is still arriving and all the backlog is in it: no need to
            // look at the bursts behind it.
            if now >= queue[0].start + Int64(queue[0].bytes.count) * charNs || arrived(queue[0], now) - pos > config.rxBuffer {
                dropOverflow(now)
            }
            let b = queue[0]
            let n = b.bytes.count
            let got = arrived(b, now)
            let ready = pos + config.rxTrigger <= n
                ? b.start + Int64(pos + config.rxTrigger) * charNs
                : b.start + Int64(n + 4) * charNs
            if now >= ready && got > pos {
                let k = min(got - pos, buffer.count)
                let from = pos
                b.bytes.withUnsafeBytes { raw in
                    let chunk = UnsafeRawBufferPointer(rebasing: raw[from..<(from + k)])
                    buffer.baseAddress!.copyMemory(from: chunk.baseAddress!, byteCount: k)
                    rxTail.append(chunk)
                    log.record(.uartRx, role, rawBytes: chunk)
                }
                pos += k
                delivered += k
                activity.notifyAll()
                return k
            }
            try await sleep(until: ready)
        }
    }

    public func write(_ bytes: [UInt8]) async throws {
        guard isOpen else { throw BoardError.closed(what: "serial port \(path) (role '\(role)')") }
        let room = Int64(config.rxBuffer) * charNs
        // The output buffer holds `rxBuffer` bytes' worth of wire time: wait while it is full.
        while txDoneAt - Kernel.now > room { try await sleep(until: txDoneAt - room) }
        txDoneAt = max(Kernel.now, txDoneAt) + Int64(bytes.count) * charNs
        txTail.append(bytes)
        log.record(.uartTx, role, bytes: bytes)
        activity.notifyAll()
    }

    public func drain() async throws {
        try await sleep(until: txDoneAt)
    }
}

/// The last bytes of a stream (bounded) and how many there were in all.
public struct ByteTail: Sendable {
    public private(set) var bytes: [UInt8] = []
    public private(set) var total = 0
    static let keep = 8192

    mutating func append(_ b: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: b)
        total += b.count
        if bytes.count > 2 * Self.keep { bytes.removeFirst(bytes.count - Self.keep) }
    }

    mutating func append(_ b: [UInt8]) {
        bytes.append(contentsOf: b)
        total += b.count
        if bytes.count > 2 * Self.keep { bytes.removeFirst(bytes.count - Self.keep) }
    }

    /// Where `text` first ends (a stream offset) in the bytes after the first `since`, or nil.
    public func find(_ text: [UInt8], since: Int) -> Int? {
        let from = max(0, bytes.count - (total - since))
        let base = total - bytes.count
        if text.isEmpty { return since }
        var i = from
        while i + text.count <= bytes.count {
            if bytes[i] == text[0] && bytes[i..<(i + text.count)].elementsEqual(text) { return base + i + text.count }
            i += 1
        }
        return nil
    }
}
