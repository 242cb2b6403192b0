import Board
import Firmware
import Glibc
import Kernel
import KernelTestSupport
import SimBoard
import Testing

func board(_ json: String, file: String = "\(repositoryRoot)/boards/test.json") throws -> BoardDescription {
    try BoardDescription.parse(json, file: file)
}

@Suite struct SimGPIOTests {
    @Test func aButtonScriptGivesTheDebouncedEdgesExpected() throws {
        let d = try board("""
            {"board": "t", "roles": {"button": {"type": "input", "line": "GPIO22", "bias": "pull-up", "active_low": true, "debounce_ms": 20}},
             "sim": {"inputs": {"button": {"presses": [{"at": "1s", "hold": "300ms", "bounce": "8ms"},
                                                       {"at": "3s", "hold": "100ms", "bounce": "5ms"}]}}}}
            """)
        let (edges, raw) = try kernelTest {
            let b = try SimHardware(d, seed: 7)
            var raw = 0
            b.log.observers.append { e in if e.kind == .gpioIn { raw += 1 } }
            b.start()
            let button = try b.input("button")
            #expect(try button.get() == false)   // pull-up, active-low, not pressed
            var edges: [String] = []
            for _ in 0..<4 {
                let e = try await button.edge(.both)
                edges.append("\(e.rising ? "press" : "release") t=\(e.time / 1_000_000) seen@\(Kernel.nowMilliseconds)")
            }
            return (edges, raw)
        }
        // Each edge is stamped with its first raw flip and reported once the line was stable
        // for 20 ms after the chatter (which ends within the bounce window).
        #expect(edges.count == 4)
        #expect(edges[0].hasPrefix("press t=1000 seen@10"))
        #expect(edges[1].hasPrefix("release t=1308 seen@13"))
        #expect(edges[2].hasPrefix("press t=3000 seen@30"))
        #expect(edges[3].hasPrefix("release t=3105 seen@31"))
        for e in edges {
            let parts = e.split(separator: " ")
            let t = Int(parts[1].dropFirst(2))!, seen = Int(parts[2].dropFirst(5))!
            #expect(seen - t >= 20 && seen - t <= 20 + 8, "\(e)")
        }
        #expect(raw > 4, "the script bounced: \(raw) raw edges")
    }

    @Test func outputsAreRecordedWithTimestampsAndRolesAreChecked() throws {
        let d = try BoardDescription.load(path: "\(repositoryRoot)/boards/sim.json")
        let log = try kernelTest {
            let b = try SimHardware(d, seed: 1)
            var seen: [String] = []
            b.log.observers.append { e in if e.kind == .gpioOut { seen.append("t=\(e.time / 1_000_000) \(e.subject)=\(e.value)") } }
            let relay = try b.output("relay")
            try relay.set(true)
            try await sleep(ms: 250)
            try relay.set(true)    // no change, no event
            try relay.set(false)
            #expect(throws: BoardError.lineBusy(line: "relay", consumer: "firmloop (already opened)", role: "relay")) { try b.output("relay") }
            #expect(throws: BoardError.roleNotDeclared(role: "pump", file: d.file)) { try b.output("pump") }
            #expect(throws: BoardError.wrongRoleType(role: "button", file: d.file, declared: "input", wanted: "output")) { try b.output("button") }
            b.close()
            _ = try b.output("relay")   // released on close
            return seen
        }
        #expect(log == ["t=0 relay=1", "t=250 relay=0"])
    }
}

@Suite struct SimUARTTests {
    @Test func theFixturesAreThere() {
        #expect(gpsdLogs.count >= 20, "gpsd logs expected in \(repositoryRoot)/Tests/Fixtures/gpsd: \(gpsdLogs)")
    }

    /// Every gpsd log replayed at 9600 8N1: the bytes read are exactly the log's (without its
    /// `#` lines), and no byte is read before its stop bit has passed at 9600 baud.
    @Test(arguments: gpsdLogs)
    func replayDeliversExactlyTheLogsBytesAtTheBaudsPace(_ name: String) throws {
        let d = try board("""
            {"board": "t", "roles": {"gps": {"type": "serial", "device": "sim:gps", "settings": "9600 8N1"}},
             "sim": {"uarts": {"gps": {"nmea": "\(repositoryRoot)/\(name)", "loop": false}}}}
            """)
        let file = readFile("\(repositoryRoot)/\(name)")!
        // The log's lines (LF or CRLF) minus the `#` ones, byte for byte.
        let expected = Array(Array(file.utf8).split(separator: 0x0A, omittingEmptySubsequences: false)
            .filter { $0.first != UInt8(ascii: "#") }.joined(separator: [0x0A]))
        let epochs = UARTSourceConfig.nmeaEpochs(Array(file.utf8))
        #expect(epochs.reduce(0) { $0 + $1.count } == expected.count)
        let reads = try kernelTest {
            let b = try SimHardware(d, seed: 1)
            let port = try b.serial("gps")
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { buf.deallocate() }
            var reads: [(t: Int64, bytes: [UInt8])] = []
            var total = 0
            while total < expected.count {
                let n = try await port.read(into: buf)
                reads.append((Kernel.now, Array(buf[0..<n])))
                total += n
            }
            return reads
        }
        #expect(reads.flatMap(\.bytes) == expected)
        // Replay the schedule: epoch k starts at k s (or when the previous one ends); byte j of
        // an epoch arrives at start + (j + 1) × 10 bits / 9600 baud.
        let c: Int64 = 10 * 1_000_000_000 / 9600
        var start: Int64 = 0, prevEnd: Int64 = 0, inEpoch = 0, k = 0
        start = 0
        for r in reads {
            if inEpoch == epochs[k].count {
                k += 1
                inEpoch = 0
                start = max(Int64(k) * 1_000_000_000, prevEnd)
            }
            inEpoch += r.bytes.count
            #expect(inEpoch <= epochs[k].count, "a read crossed an epoch")
            #expect(r.t >= start + Int64(inEpoch) * c, "\(name): byte \(inEpoch) of epoch \(k) read at \(r.t), before it arrived")
            if inEpoch == epochs[k].count {
                prevEnd = start + Int64(inEpoch) * c
                // The last chunk is read when the FIFO times out (4 characters) or fills.
                #expect(r.t == prevEnd + (inEpoch % 16 == 0 ? 0 : 4 * c), "\(name): epoch \(k) ended at \(r.t)")
            } else {
                #expect(r.bytes.count >= 16, "a mid-epoch read comes at the FIFO's trigger level")
            }
        }
        #expect(k == epochs.count - 1)
    }

    @Test func noiseIsSeededAndCounted() throws {
        let d = try board("""
            {"board": "t", "roles": {"gps": {"type": "serial", "device": "sim:gps", "settings": "9600 8N1"}},
             "sim": {"uarts": {"gps": {"nmea": "\(repositoryRoot)/boards/nmea/neo-m8n.log", "byte_error_rate": 0.01, "garbage_per_hour": 3600}}}}
            """)
        func read(seed: UInt64) throws -> [UInt8] {
            try kernelTest {
                let b = try SimHardware(d, seed: seed)
                let port = try b.serial("gps")
                let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
                defer { buf.deallocate() }
                var all: [UInt8] = []
                while Kernel.now < 60_000_000_000 {
                    let n = try await port.read(into: buf)
                    all += buf[0..<n]
                }
                return all
            }
        }
        let a = try read(seed: 1), b = try read(seed: 1), c = try read(seed: 2)
        #expect(a == b)
        #expect(a != c)
        let clean = UARTSourceConfig.nmeaEpochs(Array(readFile("\(repositoryRoot)/boards/nmea/neo-m8n.log")!.utf8)).flatMap { $0 }
        #expect(a.count > clean.prefix(a.count).count / 2)
        let differing = zip(a, clean).filter { $0 != $1 }.count
        #expect(differing > 0, "noise changed some bytes")
    }

    @Test func writesArePacedAndDrainWaitsForTheWire() throws {
        let d = try board(#"{"board": "t", "roles": {"console": {"type": "serial", "device": "sim:console", "settings": "1200 8N1"}}}"#)
        let t = try kernelTest {
            let b = try SimHardware(d, seed: 1)
            let port = try b.serial("console")
            #expect(throws: BoardError.deviceBusy(path: "sim:console", role: "console")) { try b.serial("console") }
            try await port.write(Array(repeating: 0x55, count: 120))
            let afterWrite = Kernel.now
            try await port.drain()
            return (afterWrite, Kernel.now)
        }
        #expect(t.0 == 0)
        #expect(t.1 == 120 * (10 * 1_000_000_000 / 1200))   // one second for 120 bytes at 1200 baud
    }
}

@Suite struct SimNetworkTests {
    static let boardJSON = """
        {"board": "t", "roles": {"led": {"type": "output", "line": "GPIO1"}},
         "sim": {"network": {"broker": "127.0.0.1:1883", "latency": "20ms"}}}
        """

    @Test func outagesHoldDataAndTimeOutConnectsResetsBreakConnections() throws {
        let d = try board(Self.boardJSON)
        let trace = try kernelTest {
            let b = try SimHardware(d, seed: 1)
            var trace: [String] = []
            b.simNetwork.listen("127.0.0.1:7") { server in
                _ = spawn("echo") {
                    let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 1)
                    defer { buf.deallocate() }
                    while true {
                        let n = try await server.read(into: buf)
                        if n == 0 { server.close(); return }
                        try await server.write(Array(buf[0..<n]))
                    }
                }
            }
            let c = try await b.network.connect(host: "127.0.0.1", port: 7, timeoutMilliseconds: 1000)
            b.simNetwork.setDown(true)
            try await c.write(Array("held".utf8))
            _ = spawn("heal") { try await sleep(ms: 5000); b.simNetwork.setDown(false) }
            do {
                _ = try await b.network.connect(host: "127.0.0.1", port: 7, timeoutMilliseconds: 2000)
            } catch {
                trace.append("t=\(Kernel.nowMilliseconds) \(error)")
            }
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 64, alignment: 1)
            defer { buf.deallocate() }
            let n = try await c.read(into: buf)
            trace.append("t=\(Kernel.nowMilliseconds) echo \(String(decoding: buf[0..<n], as: UTF8.self))")
            b.simNetwork.resetAll()
            do { _ = try await c.read(into: buf) } catch { trace.append("t=\(Kernel.nowMilliseconds) \(error)") }
            do { _ = try await b.network.connect(host: "127.0.0.1", port: 8, timeoutMilliseconds: 2000) } catch {
                trace.append("t=\(Kernel.nowMilliseconds) \(error)")
            }
            return trace
        }
        #expect(trace == [
            "t=2040 connect to 127.0.0.1:7 timed out after 2000 ms",
            "t=5080 echo held",   // link up at 5040: there at 5060, echoed back at 5080
            "t=5080 connection to 127.0.0.1:7 was reset",
            "t=5120 connect to 127.0.0.1:8 failed: connection refused (nothing listens there in the simulated network)",
        ])
    }
}

@Suite struct SimUARTOverrunTests {
    /// A reader that stops reading for 10 s loses what does not fit in the 4 KiB tty buffer,
    /// newest first, and the loss is counted; then the stream goes on on its schedule.
    @Test func aReaderThatFallsBehindLosesTheNewestBytesAndTheyAreCounted() throws {
        let d = try board("""
            {"board": "t", "roles": {"gps": {"type": "serial", "device": "sim:gps", "settings": "9600 8N1"}},
             "sim": {"uarts": {"gps": {"nmea": "\(repositoryRoot)/boards/nmea/neo-m8n.log"}}}}
            """)
        let epochs = UARTSourceConfig.nmeaEpochs(Array(readFile("\(repositoryRoot)/boards/nmea/neo-m8n.log")!.utf8))
        let (got, overruns) = try kernelTest {
            let b = try SimHardware(d, seed: 1)
            let port = try b.serial("gps")
            let u = try b.uart("gps")
            try await sleep(ms: 10_500)    // epochs 0-9 have arrived and the 11th has begun
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 1)
            defer { buf.deallocate() }
            var got: [UInt8] = []
            while got.count < 4096 {
                let n = try await port.read(into: buf)
                got += buf[0..<n]
            }
            return (got, u.overruns)
        }
        let stream = epochs.flatMap { $0 }
        let first10 = epochs.prefix(10).reduce(0) { $0 + $1.count }
        let c = 10 * 1_000_000_000 / 9600
        let arrivedOf11th = 500_000_000 / c
        #expect(Array(got.prefix(4096)) == Array(stream.prefix(4096)), "the oldest bytes are kept")
        #expect(overruns == first10 + min(arrivedOf11th, epochs[10].count) - 4096)
    }
}

/// The board file's "sim" section, checked without a board.
@Suite struct WorldConfigTests {
    @Test func brokenWorldSectionsReportTheirKeys() throws {
        do {
            _ = try SimHardware.validate(board("""
                {"board": "t", "roles": {"gps": {"type": "serial", "device": "sim:gps"}},
                 "sim": {"uarts": {"gps": {"nmea": "missing.log", "rate_hz": 0}, "uart9": {}},
                         "network": {"latency": "fast", "outages": [{"at": "1h"}]}, "start": "noon"}}
                """, file: "/tmp/w.json"))
            Issue.record("accepted")
        } catch let e as FileProblems {
            let m = e.description
            for want in ["sim.uarts.gps.nmea: cannot read /tmp/missing.log", "sim.uarts.gps.rate_hz: expected 0 < rate_hz <= 100",
                         "sim.uarts.uart9: no serial role 'uart9'", "sim.network.latency: expected a duration",
                         "sim.network.outages[0].for: missing (required)", "sim.start: expected UTC time"] {
                #expect(m.contains(want), "missing \(want) in\n\(m)")
            }
        }
    }
}
