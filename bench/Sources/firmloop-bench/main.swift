// firmloop-bench: the kernel's benchmarks, one JSON object per line (see bench/README.md).
// Each figure is the median of `repeats` runs in this process. mallocs_per_op comes from the
// CAllocCount interposer linked into this binary (real malloc calls on the kernel thread).

import CAllocCount
import CSystem
import CTestSupport
import Glibc
import Board
import Firmware
import BoardDemo
import TLS
import FirmwareSim
import Kernel
import LinuxBoard
import SimBoard
import SimWorld

/// FIRMLOOP_BENCH_REPEATS=1 (and FIRMLOOP_BENCH_TASKS=100 for the yield row) make a run small
/// enough for callgrind's instruction counts.
let repeats = getenv("FIRMLOOP_BENCH_REPEATS").flatMap { Int(String(cString: $0)) } ?? 5
/// FIRMLOOP_BENCH_SIM_HOURS=2 runs the simulated days (sim_24h, sim_24h_firmware) for 2 virtual hours
/// instead of 24, once each with FIRMLOOP_BENCH_REPEATS=1 (callgrind compares the two).
let simHours = getenv("FIRMLOOP_BENCH_SIM_HOURS").flatMap { Int64(String(cString: $0)) } ?? 24
let simRounds = min(3, repeats)
let yieldTasks = getenv("FIRMLOOP_BENCH_TASKS").map { String(cString: $0).split(separator: ",").compactMap { Int($0) } } ?? [1, 100, 10_000]
/// FIRMLOOP_BENCH=yield,fd_pingpong runs only those (for profiling).
let only: Set<String>? = getenv("FIRMLOOP_BENCH").map { Set(String(cString: $0).split(separator: ",").map(String.init)) }
func selected(_ name: String) -> Bool { only?.contains(name) ?? true }
/// The floor rows (Floor.swift) need the process's default executor to be the floor's, not the
/// kernel's: they run only in a process that asks for nothing else.
let floorProcess = only.map { !$0.isEmpty && $0.allSatisfy { $0.hasPrefix("floor_") } } ?? false
if floorProcess {
    makeFloorDefaultExecutor()
} else {
    // As the firmloop command line does (FIRMLOOP_EXECUTOR=preference measures the fallback).
    Kernel.makeKernelDefaultExecutor()
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    return s[min(s.count - 1, Int((Double(s.count - 1) * p).rounded()))]
}

func emit(_ fields: [(String, String)]) {
    print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
}
func str(_ s: String) -> String { "\"\(s)\"" }
func num(_ d: Double) -> String {
    let r = (d * 100).rounded() / 100
    return r == r.rounded() && abs(r) < 1e15 ? String(Int64(r)) : String(r)
}

func osThreads() -> Int {
    guard let f = fopen("/proc/self/status", "r") else { return -1 }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, f) != nil {
        let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix("Threads:") { return Int(s.dropFirst(8).trimmingPrefix(while: { $0 == " " || $0 == "\t" }).prefix { $0.isNumber }) ?? -1 }
    }
    return -1
}

func rssBytes() -> Int {
    guard let f = fopen("/proc/self/statm", "r") else { return 0 }
    defer { fclose(f) }
    var size = 0, resident = 0
    withUnsafeMutablePointer(to: &size) { sp in
        withUnsafeMutablePointer(to: &resident) { rp in
            _ = withVaList([sp, rp]) { vfscanf(f, "%ld %ld", $0) }
        }
    }
    return resident * Int(sysconf(Int32(_SC_PAGESIZE)))
}

@KernelActor final class Countdown {
    var n: Int
    init(_ n: Int) { self.n = n }
}

/// The measured window of one run: `start()` and `stop()` read the clock and the malloc counter.
@KernelActor final class Window {
    var t0: Int64 = 0, t1: Int64 = 0, m0: UInt64 = 0, m1: UInt64 = 0
    func start() { m0 = alloccount_calls(); t0 = fl_monotonic_ns() }
    func stop() { t1 = fl_monotonic_ns(); m1 = alloccount_calls() }
}

func measure(_ name: String, extra: [(String, String)] = [], ops: Int,
             _ body: @escaping @Sendable @KernelActor (Window) async throws -> Void) throws {
    var ns: [Double] = [], mallocs: [Double] = []
    var threads = 0
    for _ in 0..<repeats {
        let (dt, dm) = try Kernel.run { () async throws -> (Double, Double) in
            let w = Window()
            try await body(w)
            return (Double(w.t1 - w.t0), Double(w.m1 - w.m0))
        }
        threads = max(threads, osThreads())
        ns.append(dt / Double(ops))
        mallocs.append(dm / Double(ops))
    }
    emit([("bench", str(name)), ("impl", str("firmloop"))] + extra
         + [("ns_per_op", num(median(ns))), ("mallocs_per_op", num(median(mallocs))), ("threads", "\(threads)")])
}

// ---------------------------------------------------------------------------------------------
// yield: N tasks each yielding until the total reaches `total`.

for tasks in yieldTasks where selected("yield") {
    // At least 1,000 yields per task: a task's first switches after waking can take ~2 mallocs
    // once (measured at 10,000 tasks), which is start-up, not switching.
    let perTask = max(1000, 2_000_000 / tasks)
    try measure("yield", extra: [("tasks", "\(tasks)")], ops: tasks * perTask) { w in
        let go = Event()
        let counter = Countdown(tasks)
        let hs = (0..<tasks).map { _ in
            spawn("yielder") {
                // Warm: a task's first switches may take a slab for its async frames.
                for _ in 0..<2 { try await yield() }
                try await go.wait()
                for _ in 0..<perTask { try await yield() }
                // The window ends with the last yield, not with task exits (they allocate).
                counter.n -= 1
                if counter.n == 0 { w.stop() }
            }
        }
        for _ in 0..<4 { try await yield() }   // everyone warm and parked on `go`
        go.set()
        w.start()
        _ = try await gather(hs)
    }
}

// spawn: start a task that returns at once and join it, in batches of 1,000.
if selected("spawn") { try measure("spawn", extra: [("tasks", "1")], ops: 200_000) { w in
    w.start()
    for _ in 0..<200 {
        var hs: [TaskHandle<Int>] = []
        hs.reserveCapacity(1000)
        for i in 0..<1000 { hs.append(spawn("child") { i }) }
        for h in hs { _ = try await h.value }
    }
    w.stop()
} }

// The runtime's floor under both rows (Floor.swift): a bare continuation and a bare task on a
// minimal executor, no kernel code, in a process of its own. summary.py prints the ratios.
if floorProcess { runFloorRows() }

// fd ping-pong: one byte back and forth over a socketpair; an op is a round trip.
if selected("fd_pingpong") { try measure("fd_pingpong", extra: [("tasks", "2")], ops: 100_000) { w in
    var fds: [Int32] = [0, 0]
    precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
    let (a, b) = (fds[0], fds[1])
    let echo = spawn("echo") {
        var byte: UInt8 = 0
        while true {
            try await readable(b)
            if read(b, &byte, 1) != 1 { return }
            _ = write(b, &byte, 1)
        }
    }
    var byte: UInt8 = 1
    for _ in 0..<1000 { _ = write(a, &byte, 1); try await readable(a); _ = read(a, &byte, 1) }   // warm
    w.start()
    for _ in 0..<100_000 {
        _ = write(a, &byte, 1)
        try await readable(a)
        _ = read(a, &byte, 1)
    }
    w.stop()
    echo.cancel()
    closeDescriptor(a)
    closeDescriptor(b)
} }

// sleep(10 ms) lateness: how long after its deadline a sleeping task runs again.
if selected("sleep_lateness") {
    // 300 sleeps: p99 is the 3rd worst, not the single worst (one VM hiccup).
    // cpu_pct: the process's CPU over the 3 s of sleeps (what waking early and spinning the
    // last KernelOptions.spinMicroseconds costs).
    var p50: [Double] = [], p99: [Double] = [], cpu: [Double] = []
    for _ in 0..<1 {
        let (late, pct) = try Kernel.run { () async throws -> ([Double], Double) in
            var late: [Double] = []
            let c0 = fl_process_cpu_ns(), w0 = Kernel.now
            for _ in 0..<300 {
                let due = Kernel.now + 10_000_000
                try await sleep(until: due)
                late.append(Double(Kernel.now - due) / 1000)
            }
            return (late, Double(fl_process_cpu_ns() - c0) / Double(Kernel.now - w0) * 100)
        }
        p50.append(percentile(late, 0.5))
        p99.append(percentile(late, 0.99))
        cpu.append(pct)
    }
    emit([("bench", str("sleep_lateness")), ("impl", str("firmloop")), ("tasks", "1"),
          ("p50_us", num(median(p50))), ("p99_us", num(median(p99))), ("cpu_pct", num(median(cpu)))])

    // Under load: the same sleeps while 100 other tasks yield without pause (the loop is never
    // idle; a timer is noticed between two loop turns).
    let loaded = try Kernel.run { () async throws -> [Double] in
        let busy = (0..<100).map { _ in spawn("busy") { while true { try await yield() } } }
        var late: [Double] = []
        for _ in 0..<300 {
            let due = Kernel.now + 10_000_000
            try await sleep(until: due)
            late.append(Double(Kernel.now - due) / 1000)
        }
        for b in busy { b.cancel() }
        return late
    }
    emit([("bench", str("sleep_lateness")), ("impl", str("firmloop")), ("tasks", "101"),
          ("p50_us", num(percentile(loaded, 0.5))), ("p99_us", num(percentile(loaded, 0.99)))])
}

// idle CPU: 100 tasks sleeping 1 s, measured over 2 s of wall time.
if selected("idle_cpu") {
    let (cpu, wall) = try Kernel.run { () async throws -> (Int64, Int64) in
        for _ in 0..<100 { spawn("sleeper") { while true { try await sleep(ms: 1000) } } }
        try await sleep(ms: 10)
        let c0 = fl_process_cpu_ns(), w0 = Kernel.now
        try await sleep(ms: 2000)
        return (fl_process_cpu_ns() - c0, Kernel.now - w0)
    }
    emit([("bench", str("idle_cpu")), ("impl", str("firmloop")), ("tasks", "100"),
          ("cpu_pct", num(Double(cpu) / Double(wall) * 100))])
}

// bytes per parked task: 10,000 tasks waiting on one Event.
if selected("parked_task") {
    let n = 10_000
    nonisolated(unsafe) var sizes: [Int] = []   // safety: written by the kernel's main task, read after Kernel.run returned
    let (bytes, rss, mallocs) = try Kernel.run { () async throws -> (Double, Double, Double) in
        let e = Event()
        let b0 = alloccount_bytes(), r0 = rssBytes(), m0 = alloccount_calls()
        let hs = (0..<n).map { _ in spawn("parked") { try await e.wait() } }
        try await yield()
        let b = Double(alloccount_bytes() - b0) / Double(n)
        let r = Double(rssBytes() - r0) / Double(n)
        let m = Double(alloccount_calls() - m0) / Double(n)
        // What one more parked task allocates, call by call (the sizes malloc was asked for).
        var buf = [Int](repeating: 0, count: 64)   // before the log starts: not the task's
        alloccount_sizes_reset()
        let one = spawn("parked") { try await e.wait() }
        try await yield()
        let count = buf.withUnsafeMutableBufferPointer { alloccount_sizes($0.baseAddress!, 64) }
        sizes = Array(buf.prefix(Int(count)))
        e.set()
        _ = try await gather(hs + [one])
        return (b, r, m)
    }
    emit([("bench", str("parked_task")), ("impl", str("firmloop")), ("tasks", "\(n)"),
          ("malloc_bytes_per_task", num(bytes)), ("rss_bytes_per_task", num(rss)), ("mallocs_per_task", num(mallocs)),
          ("one_task_malloc_sizes", "[" + sizes.map(String.init).joined(separator: ",") + "]")])
}

// Virtual time: 24 h of three 1 s tickers (the simulator's engine).
if selected("virtual_24h") {
    var walls: [Double] = []
    for _ in 0..<3 {
        let w0 = fl_monotonic_ns()
        try Kernel.simulate {
            let hs = (0..<3).map { _ in
                spawn("ticker") {
                    let t = every(ms: 1000)
                    while t.ticks < 86_400 { _ = try await t.tick() }
                }
            }
            _ = try await gather(hs)
        }
        walls.append(Double(fl_monotonic_ns() - w0) / 1e6)
    }
    emit([("bench", str("virtual_24h")), ("impl", str("firmloop")), ("tasks", "3"),
          ("wall_ms", num(median(walls))), ("speedup", num(86_400_000 / median(walls)))])
}

// The simulated board for 24 h: boards/sim.json (a 1 Hz GPS replayed at 9600 baud, button
// presses, network faults) running the demo firmware (a 1 s sampling ticker, the heartbeat LED,
// a UART reader). Issue 3's floor: at least 10,000x real time (24 h in <= 8.64 s).
if selected("sim_24h") {
    let desc = try BoardDescription.load(path: "boards/sim.json")
    var walls: [Double] = []
    var mallocs: [Double] = []
    var last = Simulation.Report()
    let rss0 = rssBytes()
    for _ in 0..<simRounds {
        let sim = Simulation(board: desc, seed: 1, durationNanoseconds: simHours * 3_600_000_000_000)
        let m0 = alloccount_calls()
        last = try sim.run { world in try await DemoFirmware(board: world.board).run() }
        mallocs.append(Double(alloccount_calls() - m0))
        if let f = last.failure { fatalError("sim_24h failed: \(f)") }
        walls.append(Double(last.realNanoseconds) / 1e6)
    }
    let gps = last.uarts.first { $0.role == "gps_uart" }?.delivered ?? 0
    let reads = last.tasks.first { $0.name == "gps" }?.switches ?? 0
    emit([("bench", str("sim_24h")), ("impl", str("firmloop")), ("board", str("boards/sim.json")),
          ("wall_ms", num(median(walls))), ("speedup", num(Double(simHours) * 3_600_000 / median(walls))),
          ("events", "\(last.events)"), ("uart_bytes", "\(gps)"), ("uart_reads", "\(reads)"),
          ("ns_per_event", num(median(walls) * 1e6 / Double(last.events))),
          ("mallocs_per_virtual_s", num(median(mallocs) / Double(simHours * 3600))),
          ("rss_growth_mb", num(Double(rssBytes() - rss0) / 1048576)), ("digest", str(last.digest))])
}

// The firmware for 24 simulated hours of boards/sim.json (what `firmloop simulate` runs): the
// snapshot task, NMEA parsing, the outbox (in memory) and the MQTT client against the
// in-process broker, through the world's faults.
if selected("sim_24h_firmware") {
    let desc = try BoardDescription.load(path: "boards/sim.json")
    var walls: [Double] = []
    var last: (Simulation.Report, FirmwareSimulation.Summary)?
    for _ in 0..<simRounds {
        let run = try FirmwareSimulation(simulation: Simulation(board: desc, seed: 1, durationNanoseconds: simHours * 3_600_000_000_000))
        let r = try run.run()
        if let f = r.0.failure { fatalError("sim_24h_firmware failed: \(f)") }
        if !r.1.violations.isEmpty { fatalError("sim_24h_firmware: \(r.1.violations)") }
        walls.append(Double(r.0.realNanoseconds) / 1e6)
        last = r
    }
    emit([("bench", str("sim_24h_firmware")), ("impl", str("firmloop")), ("board", str("boards/sim.json")),
          ("wall_ms", num(median(walls))), ("speedup", num(Double(simHours) * 3_600_000 / median(walls))),
          ("snapshots", "\(last!.1.taken)"), ("delivered", "\(last!.1.delivered)"), ("lost", "\(last!.1.lost)"),
          ("digest", str(last!.0.digest))])
}

// MQTT: a backlog of snapshots in the outbox (on disk, WAL, synchronous=FULL) drained to the
// mosquitto bench/run.sh started on loopback, QoS 1, the client's window of 16 in flight: from
// the firmware's start until every message is acknowledged and removed from the outbox. The
// payloads are written to a file for paho-mqtt to publish the same bytes (bench/mqtt_paho.py).
struct DrainDone: Error {}

/// What a watching task measured, read after its group ends.
@KernelActor final class Tally {
    var peak = 0, rss = 0, t1: Int64 = 0, m0: UInt64 = 0, m1: UInt64 = 0, d0 = 0, d1 = 0
}

func benchPayload(_ seq: Int64) -> [UInt8] {
    // What the firmware sends from boards/sim.json (~870 bytes), through its own encoder.
    var s = Snapshot(device: "bench", reason: "period")
    s.time = iso8601(unixNanoseconds: 1_767_225_600_000_000_000 + seq * 1_000_000_000)
    s.uptimeMilliseconds = seq * 1000
    let gpio = [("button", seq % 7 == 0), ("relay", seq % 2 == 0)]
    var f = Fix()
    (f.mode, f.lat, f.lon, f.alt) = (3, 44.068983667 + Double(seq % 100) * 1e-7, -121.3142285, 1139.4)
    (f.speed, f.time, f.satellites, f.hdop) = (0.03, "2015-03-18T17:19:48.00", 12, 1.05)
    let fix = f
    let n = Int(seq * 3 % 1000)
    // The stock components' fields, as they add them.
    s.add("gpio") { w in w.object { w in for (role, v) in gpio { w.key(role); w.bool(v) } } }
    s.add("gps") { fix.write(to: &$0) }
    s.add("uart") { w in w.object { w in for k in ["bytes", "lines", "bad", "overlong", "noise", "reopens"] { w.key(k); w.int(k == "reopens" ? 0 : n) } } }
    s.add("cpu_temp_c", number: 52.3, digits: 1)
    s.tasks = ["gps", "input", "mqtt.rx", "mqtt.tx", "outbox", "snapshot", "status"].map { name in
        var t = TaskStats(name: name)
        (t.switches, t.runNanoseconds, t.longestNanoseconds) = (Int(seq) * 5, 12_345_000, 123_000)
        return t
    }
    return s.json(seq: seq, outbox: Outbox.Counts(pending: 1, nextSeq: seq + 1, dropped: 0))
}

/// What the firmware has delivered so far (its forwarder's count).
@KernelActor func deliveredCount(_ fw: Device) -> Int { fw.component(OutboxForwarding.self)?.delivered ?? 0 }

let noRoles = #"{"board": "bench", "chip": "sim", "roles": {"relay": {"type": "output", "line": "GPIO27"}}}"#

// mqtt_backlog writes the backlog (one transaction) and the payload file; mqtt_drain, in a
// fresh process, drains it (so its RSS is the firmware's, not the backlog generator's).
if selected("mqtt_backlog"), let dirText = getenv("BENCH_MQTT_DIR") {
    let dir = String(cString: dirText)
    let count = getenv("BENCH_MQTT_COUNT").flatMap { Int(String(cString: $0)) } ?? 100_000
    let path = dir + "/drain.outbox"
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
    let outbox = try Outbox(path: path, capacity: count + 10)
    let f = fopen(dir + "/payloads.txt", "w")
    _ = try outbox.appendNow(topic: "firmloop/bench/snapshot", count: count) { seq, _ in
        var p = benchPayload(seq)
        p.append(0x0A)
        _ = p.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        p.removeLast()
        return p
    }
    fclose(f)
}

// mqtt_drain_tls: the same over TLS (BENCH_MQTT_TLS_PORT, the CA in BENCH_MQTT_DIR/certs).
for tls in [false, true] where selected(tls ? "mqtt_drain_tls" : "mqtt_drain") {
    guard let portText = getenv(tls ? "BENCH_MQTT_TLS_PORT" : "BENCH_MQTT_PORT"), let dirText = getenv("BENCH_MQTT_DIR") else { continue }
    let port = Int(String(cString: portText))!
    let dir = String(cString: dirText)
    let context = tls ? try TLSContext(TLSSettings(caFile: dir + "/certs/ca.pem")) : nil
    let outbox = try Outbox(path: dir + "/drain.outbox", capacity: 1_000_000)
    let backlog = try outbox.countsNow().pending
    let count = backlog
    let payloadBytes = (readFileBytes(dir + "/payloads.txt", limit: 1 << 30)?.count ?? 0) / max(1, count) - 1
    let desc = try BoardDescription.parse(noRoles, file: "bench.json")
    var cfg = FirmwareConfig(deviceID: "bench")
    cfg.broker = BrokerAddress(host: "127.0.0.1", port: port, tls: tls)
    cfg.snapshotIntervalMilliseconds = 86_400_000
    let rss0 = rssBytes()
    let (ns, mallocs, peak, delivered) = try Kernel.run { () async throws -> (Int64, UInt64, Int, Int) in
        let board = try SimHardware(desc, seed: 1)
        let network: any Network = context.map { TLSNetwork(over: LinuxNetwork(), context: $0) } ?? LinuxNetwork()
        let fw = Device(board: board, config: cfg, outbox: outbox, network: network)
        let t0 = Kernel.now, m0 = alloccount_calls()
        let t = Tally()
        do {
            try await withGroup("bench") { g in
                g.spawn("firmware") { try await fw.run() }
                g.spawn("watch") {
                    while deliveredCount(fw) < count {
                        try await sleep(ms: 20)
                        t.peak = max(t.peak, rssBytes())
                    }
                    t.t1 = Kernel.now
                    t.m1 = alloccount_calls()
                    throw DrainDone()
                }
            }
        } catch is DrainDone {}
        return (t.t1 - t0, t.m1 - m0, t.peak, deliveredCount(fw))
    }
    let left = try outbox.countsNow().pending
    emit([("bench", str(tls ? "mqtt_drain_tls" : "mqtt_drain")), ("impl", str("firmloop")), ("msgs", "\(count)"), ("delivered", "\(delivered)"),
          ("payload_bytes", "\(payloadBytes)"), ("window", "16"),
          ("msgs_per_s", num(Double(count) / (Double(ns) / 1e9))), ("wall_ms", num(Double(ns) / 1e6)),
          ("kernel_mallocs_per_msg", num(Double(mallocs) / Double(count))),
          ("rss_mb", num(Double(peak) / 1048576)), ("rss_before_mb", num(Double(rss0) / 1048576)),
          ("left_in_outbox", "\(left)")])
}

// One snapshot cycle, steady state: take a snapshot (inputs, outputs, kernel task stats, JSON),
// store it (offloaded fsync), publish it, get the PUBACK, remove it. Every 10 ms against the
// loopback mosquitto; mallocs counted on the kernel thread over 1,000 cycles after 200 warm-up.
if selected("snapshot_cycle"), let portText = getenv("BENCH_MQTT_PORT"), let dirText = getenv("BENCH_MQTT_DIR") {
    let port = Int(String(cString: portText))!
    let path = String(cString: dirText) + "/cycle.outbox"
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
    let outbox = try Outbox(path: path)
    let desc = try BoardDescription.parse("""
        {"board": "bench", "chip": "sim", "roles": {
          "status_led": {"type": "output", "line": "GPIO17"}, "relay": {"type": "output", "line": "GPIO27"},
          "button": {"type": "input", "line": "GPIO22", "debounce_ms": 20}}}
        """, file: "bench.json")
    var cfg = FirmwareConfig(deviceID: "bench")
    cfg.broker = BrokerAddress(host: "127.0.0.1", port: port)
    cfg.snapshotIntervalMilliseconds = 10
    let (mallocs, cycles, rss) = try Kernel.run { () async throws -> (UInt64, Int, Int) in
        let board = try SimHardware(desc, seed: 1)
        let fw = Device(board: board, config: cfg, outbox: outbox, network: LinuxNetwork())
        let t = Tally()
        do {
            try await withGroup("bench") { g in
                g.spawn("firmware") { try await fw.run() }
                g.spawn("watch") {
                    while deliveredCount(fw) < 200 { try await sleep(ms: 5) }
                    t.m0 = alloccount_calls(); t.d0 = deliveredCount(fw)
                    while deliveredCount(fw) < t.d0 + 1000 { try await sleep(ms: 5) }
                    t.m1 = alloccount_calls(); t.d1 = deliveredCount(fw)
                    t.rss = rssBytes()
                    throw DrainDone()
                }
            }
        } catch is DrainDone {}
        return (t.m1 - t.m0, t.d1 - t.d0, t.rss)
    }
    emit([("bench", str("snapshot_cycle")), ("impl", str("firmloop")), ("cycles", "\(cycles)"),
          ("kernel_mallocs_per_cycle", num(Double(mallocs) / Double(cycles))), ("rss_mb", num(Double(rss) / 1048576))])
}

// NMEA framing + parsing from memory (issue 17): the firmware's LineFramer and NMEAParser over
// the same bytes pynmea2 parses (bench/nmea_pynmea2.py). Two inputs, written to BENCH_NMEA_DIR:
// "log", boards/nmea/neo-m8n.log (gpsd's comment lines out) repeated to ~16 MB, and "mix", a
// 100 MB synthetic mix of it with noise: garbage bytes, cut lines, bad checksums (seeded).
if selected("nmea"), let dirText = getenv("BENCH_NMEA_DIR") {
    let dir = String(cString: dirText)
    let source = (readFileBytes("boards/nmea/neo-m8n.log") ?? []).split(separator: 0x0A).filter { $0.first != UInt8(ascii: "#") }
    var log: [UInt8] = []
    while log.count < 16 << 20 { for l in source { log += l; log.append(0x0A) } }
    var mix: [UInt8] = []
    var rng = SeededRandom(seed: 17, stream: "nmea-mix")
    mix.reserveCapacity(100 << 20)
    while mix.count < 100 << 20 {
        for l in source {
            var line = Array(l)
            let r = rng.unit()
            if r < 0.02 { for _ in 0..<Int(rng.unit() * 40) { mix.append(UInt8(truncatingIfNeeded: Int(rng.unit() * 256))) } }   // noise
            else if r < 0.03 { line = Array(line.prefix(Int(rng.unit() * Double(line.count)))) }                                   // cut
            else if r < 0.04, line.count > 8 { line[line.count / 2] ^= 0x01 }                                                       // bad checksum
            mix += line
            mix.append(0x0A)
        }
    }
    for (name, bytes) in [("log", log), ("mix", mix)] {
        let f = fopen(dir + "/\(name).nmea", "w")
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
        var best = Double.infinity, lines = 0, good = 0, bad = 0
        var mallocs: UInt64 = 0
        for _ in 0..<5 {
            var framer = LineFramer(), parser = NMEAParser()
            let m0 = alloccount_calls(), t0 = fl_monotonic_ns()
            bytes.withUnsafeBytes { all in
                var off = 0
                while off < all.count {   // 4 KiB reads, as a UART or a file would hand them over
                    let n = min(4096, all.count - off)
                    framer.feed(UnsafeRawBufferPointer(rebasing: all[off..<(off + n)])) { line in _ = parser.parse(line) }
                    off += n
                }
            }
            let dt = Double(fl_monotonic_ns() - t0)
            if dt < best { best = dt; mallocs = alloccount_calls() - m0 }
            (lines, good, bad) = (framer.lines, parser.good, parser.bad)
        }
        emit([("bench", str("nmea_\(name)")), ("impl", str("firmloop")), ("bytes", "\(bytes.count)"), ("lines", "\(lines)"),
              ("good", "\(good)"), ("bad", "\(bad)"), ("mb_per_s", num(Double(bytes.count) / 1e6 / (best / 1e9))),
              ("sentences_per_s", num(Double(lines) / (best / 1e9))), ("mallocs", "\(mallocs)"), ("wall_ms", num(best / 1e6))])
    }
}
