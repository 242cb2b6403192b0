import Board
import Kernel

/// The simulated network's faults, all drawn from the run's seed.
public struct NetworkFaults: Sendable {
    /// One-way latency, plus up to `jitter` more (uniform), per segment; order is kept (TCP).
    public var latencyNanoseconds: Int64 = 2_000_000
    public var jitterNanoseconds: Int64 = 0
    /// Chance a segment is lost and retransmitted: it arrives one RTO (200 ms, doubling) later.
    public var loss = 0.0
    /// Chance a connect attempt is refused.
    public var refuse = 0.0
    /// Open connections reset (RST) at random, per hour.
    public var resetsPerHour = 0.0
    /// Outage windows: while down, connects time out and nothing flows (segments are held
    /// until the link is up again, as a cable pulled and put back).
    public var outages: [(start: Int64, length: Int64)] = []
    /// Random outages per day, each `randomOutageLength` long.
    public var randomOutagesPerDay = 0.0
    public var randomOutageLength: Int64 = 30_000_000_000
    public init() {}
}

/// A byte stream in one direction: segments in flight with their arrival times, a 64 KiB window.
@KernelActor
final class SimPipe {
    var segments: [(at: Int64, bytes: [UInt8])] = []
    var head = 0
    var offset = 0
    var buffered = 0
    var lastArrival: Int64 = 0
    /// When the writer's FIN reaches the reader (after the data before it); nil while open,
    /// .max while an outage holds it.
    var finAt: Int64? = nil
    var reset = false
    let changed = Notify()
    static let window = 65536

    func push(_ bytes: [UInt8], at: Int64) {
        let t = max(at, lastArrival)
        lastArrival = t
        if head > 32 && head * 2 > segments.count { segments.removeFirst(head); head = 0 }
        segments.append((t, bytes))
        buffered += bytes.count
        changed.notifyAll()
    }

    func finish(at: Int64) {
        let t = max(at, lastArrival)
        lastArrival = t
        finAt = t
        changed.notifyAll()
    }

    /// Segments held while the link was down get their arrival time now.
    func release(at: Int64) {
        for i in head..<segments.count where segments[i].at == .max { segments[i].at = at }
        if lastArrival == .max { lastArrival = at }
        if finAt == .max { finAt = at }
        changed.notifyAll()
    }
}

/// One end of a simulated TCP connection.
@KernelActor
public final class SimConnection: Connection {
    public let endpoint: String
    /// "host:port#n": the connection's name in the event log.
    public let id: String
    let inbound: SimPipe
    let outbound: SimPipe
    /// Weak: the network keeps its open connections (to reset them), and a connection a peer
    /// never closes must not keep the whole network alive. Gone, the link is gone too.
    weak var network: SimNetwork?
    public private(set) var isClosed = false
    /// Its bytes stay out of the event log (TLS: random on every run).
    var opaque = false

    init(endpoint: String, id: String, inbound: SimPipe, outbound: SimPipe, network: SimNetwork) {
        self.endpoint = endpoint
        self.id = id
        self.inbound = inbound
        self.outbound = outbound
        self.network = network
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        let p = inbound
        while true {
            if p.reset { throw BoardError.connectionReset(endpoint: endpoint) }
            if isClosed { throw BoardError.closed(what: "connection to \(endpoint)") }
            if p.head < p.segments.count {
                let seg = p.segments[p.head]
                if seg.at <= Kernel.now {
                    let k = min(buffer.count, seg.bytes.count - p.offset)
                    seg.bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + p.offset, byteCount: k) }
                    p.offset += k
                    if p.offset == seg.bytes.count { p.head += 1; p.offset = 0 }
                    p.buffered -= k
                    p.changed.notifyAll()
                    return k
                }
                try await p.changed.wait(until: seg.at)
            } else if let fin = p.finAt {
                if fin <= Kernel.now { return 0 }
                try await p.changed.wait(until: fin)
            } else {
                try await p.changed.wait()
            }
        }
    }

    public func write(_ bytes: [UInt8]) async throws {
        let p = outbound
        while true {
            if p.reset { throw BoardError.connectionReset(endpoint: endpoint) }
            if isClosed || p.finAt != nil { throw BoardError.closed(what: "connection to \(endpoint)") }
            if p.buffered == 0 || p.buffered + bytes.count <= SimPipe.window { break }
            try await p.changed.wait()
        }
        if bytes.isEmpty { return }
        guard let network else { throw BoardError.connectionReset(endpoint: endpoint) }
        if opaque { network.log.record(.netSend, id) } else { network.log.record(.netSend, id, value: Int64(bytes.count), bytes: bytes) }
        p.push(bytes, at: network.arrival())
    }

    /// Closes this end: the peer reads what is in flight, then end of stream.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        outbound.finish(at: network?.arrival() ?? Kernel.now)
        inbound.changed.notifyAll()
        network?.log.record(.netClose, id)
        network?.forget(self)
    }

    func breakWithReset() {
        guard !inbound.reset else { return }
        inbound.reset = true
        outbound.reset = true
        inbound.changed.notifyAll()
        outbound.changed.notifyAll()
    }
}

/// The simulated network: endpoints that listen ("127.0.0.1:1883" for the in-process broker),
/// latency, loss, refusals, resets and outage windows from one seeded stream.
@KernelActor
public final class SimNetwork: Network {
    public let faults: NetworkFaults
    let log: EventLog
    private var rng: SeededRandom
    private var listeners: [String: (SimConnection) -> Void] = [:]
    private var open: [ObjectIdentifier: SimConnection] = [:]
    private var serial = 0
    public private(set) var isDown = false
    public private(set) var stats = (connects: 0, refused: 0, timeouts: 0, resets: 0, outages: 0)
    let linkChanged = Notify()

    init(faults: NetworkFaults, seed: UInt64, log: EventLog) {
        self.faults = faults
        self.log = log
        rng = SeededRandom(seed: seed, stream: "network")
    }

    /// Accept connections to `endpoint` ("host:port") with `accept`, given the server's end.
    /// `opaque`: the bytes on these connections are not the simulation's to replay (TLS): only
    /// that a segment was sent goes into the event log.
    public func listen(_ endpoint: String, opaque: Bool = false, _ accept: @escaping (SimConnection) -> Void) {
        listeners[endpoint] = accept
        if opaque { opaqueEndpoints.insert(endpoint) } else { opaqueEndpoints.remove(endpoint) }
    }
    private var opaqueEndpoints = Set<String>()

    func arrival() -> Int64 {
        if isDown { return .max }
        var t = Kernel.now + faults.latencyNanoseconds
        if faults.jitterNanoseconds > 0 { t += Int64(rng.unit() * Double(faults.jitterNanoseconds)) }
        var rto: Int64 = 200_000_000
        while rng.chance(faults.loss) && rto < 60_000_000_000 { t += rto; rto *= 2 }
        return t
    }

    public func connect(host: String, port: Int, timeoutMilliseconds: Int) async throws -> any Connection {
        let endpoint = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        let giveUp = Kernel.now + Int64(timeoutMilliseconds) * 1_000_000
        // The SYN is lost while the link is down: wait for the link or the timeout.
        while isDown {
            if Kernel.now >= giveUp {
                stats.timeouts += 1
                log.record(.netTimeout, endpoint)
                throw BoardError.connectTimedOut(endpoint: endpoint, milliseconds: timeoutMilliseconds)
            }
            try await linkChanged.wait(until: giveUp)
        }
        try await sleep(until: Kernel.now + 2 * faults.latencyNanoseconds)   // SYN, SYN-ACK
        let listening = listeners[endpoint] != nil ? endpoint : "*:\(port)"
        guard let accept = listeners[listening] else {
            stats.refused += 1
            log.record(.netRefused, endpoint)
            throw BoardError.connectFailed(endpoint: endpoint, reason: "connection refused (nothing listens there in the simulated network)")
        }
        if rng.chance(faults.refuse) {
            stats.refused += 1
            log.record(.netRefused, endpoint)
            throw BoardError.connectFailed(endpoint: endpoint, reason: "connection refused (simulated fault)")
        }
        serial += 1
        stats.connects += 1
        let id = "\(endpoint)#\(serial)"
        let up = SimPipe(), down = SimPipe()
        let client = SimConnection(endpoint: endpoint, id: id, inbound: down, outbound: up, network: self)
        let server = SimConnection(endpoint: "client#\(serial)", id: id + "s", inbound: up, outbound: down, network: self)
        client.opaque = opaqueEndpoints.contains(listening)
        server.opaque = client.opaque
        open[ObjectIdentifier(client)] = client
        open[ObjectIdentifier(server)] = server
        log.record(.netConnect, id)
        accept(server)
        return client
    }

    func forget(_ c: SimConnection) {
        open[ObjectIdentifier(c)] = nil
    }

    /// Resets every open connection (both ends see `connectionReset`).
    public func resetAll() {
        let all = open.values.sorted { $0.id < $1.id }
        for c in all where !c.inbound.reset {
            stats.resets += 1
            log.record(.netReset, c.id)
            c.breakWithReset()
        }
        open.removeAll()
    }

    /// Takes the link down or up. Down: connects time out, segments are held. Up: they flow.
    public func setDown(_ down: Bool) {
        guard down != isDown else { return }
        isDown = down
        if down {
            stats.outages += 1
            log.record(.netDown, "link")
        } else {
            log.record(.netUp, "link")
            let at = Kernel.now + faults.latencyNanoseconds
            for c in open.values { c.outbound.release(at: at) }
        }
        linkChanged.notifyAll()
    }

    /// The fault schedule for a run (resets and outages), as a task body: runs until cancelled.
    func runFaults(origin: Int64) async throws {
        var events: [(at: Int64, what: Int)] = []   // 0 reset, 1 down, 2 up
        for o in faults.outages {
            events.append((origin + o.start, 1))
            events.append((origin + o.start + o.length, 2))
        }
        events.sort { $0.at < $1.at }
        var nextReset = faults.resetsPerHour > 0 ? origin + Int64(rng.exponential(mean: 3.6e12 / faults.resetsPerHour)) : .max
        var nextOutage = faults.randomOutagesPerDay > 0 ? origin + Int64(rng.exponential(mean: 8.64e13 / faults.randomOutagesPerDay)) : .max
        var outageEnds: Int64 = .max
        while true {
            let scheduled = events.first?.at ?? .max
            let t = min(scheduled, nextReset, nextOutage, outageEnds)
            if t == .max { try await sleep(until: .max) }
            try await sleep(until: t)
            if t == outageEnds {
                outageEnds = .max
                setDown(false)
            } else if t == nextOutage {
                setDown(true)
                outageEnds = t + faults.randomOutageLength
                nextOutage = t + faults.randomOutageLength + Int64(rng.exponential(mean: 8.64e13 / faults.randomOutagesPerDay))
            } else if t == nextReset {
                resetAll()
                nextReset = t + Int64(rng.exponential(mean: 3.6e12 / faults.resetsPerHour))
            } else {
                let e = events.removeFirst()
                setDown(e.what == 1)
            }
        }
    }
}
