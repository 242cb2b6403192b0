import Board
import Glibc
import Kernel
import KernelTestSupport
@testable import LinuxBoard
import Testing

/// Value roles on Linux: a number in a file (here a fake 1-Wire tree in a temporary folder),
/// the pattern matched once when the board is made, each read offloaded.
@Suite struct ValueTests {
    static func tree() -> String {
        var t = Array("/tmp/firmloop-w1-XXXXXX".utf8CString)
        let dir = String(cString: mkdtemp(&t)!)
        for d in ["28-0000071c4f4a", "w1_bus_master1"] { mkdir("\(dir)/\(d)", 0o755) }
        write("\(dir)/28-0000071c4f4a/temperature", "21562\n")
        return dir
    }

    static func write(_ path: String, _ text: String) {
        let f = fopen(path, "w")!
        fputs(text, f)
        fclose(f)
    }

    static func board(_ path: String, scale: Double = 0.001) throws -> BoardDescription {
        try BoardDescription.parse(#"{"board": "w1", "roles": {"probe": {"type": "value", "path": "\#(path)", "scale": \#(scale)}}}"#, file: "w1.json")
    }

    @Test func aDS18B20ReadsInDegreesAndFollowsTheFile() throws {
        let dir = Self.tree()
        defer { _ = system("rm -rf '\(dir)'") }
        let readings = try kernelTest { () async throws -> [Double] in
            let b = try LinuxHardware(try Self.board("\(dir)/28-*/temperature"))
            defer { b.close() }
            let probe = try b.value("probe")
            let first = try await probe.read()
            Self.write("\(dir)/28-0000071c4f4a/temperature", "-1250\n")
            return [first, try await probe.read()]
        }
        #expect(readings == [21.562, -1.25])
    }

    /// The CPU temperature: the CPU's zone, read again only once a reading is
    /// `cpuTemperatureMaxAge` old (a snapshot every 100 ms hands off to a worker once a second).
    @Test func theCPUTemperatureIsReadAtMostOnceASecond() throws {
        let dir = Self.tree()
        defer { _ = system("rm -rf '\(dir)'") }
        for (zone, type, milli) in [("thermal_zone0", "acpitz", "30000"), ("thermal_zone1", "cpu-thermal", "47500")] {
            mkdir("\(dir)/\(zone)", 0o755)
            Self.write("\(dir)/\(zone)/type", type + "\n")
            Self.write("\(dir)/\(zone)/temp", milli + "\n")
        }
        let readings = try kernelTest(options: KernelOptions(clock: .virtual(start: 0))) { () async throws -> [Double?] in
            let b = try LinuxHardware(try Self.board("\(dir)/28-*/temperature"), thermalRoot: dir)
            defer { b.close() }
            let first = await b.cpuTemperature()
            Self.write("\(dir)/thermal_zone1/temp", "52000\n")
            try await sleep(ms: 900)
            let cached = await b.cpuTemperature()
            try await sleep(ms: 100)
            let fresh = await b.cpuTemperature()
            Self.write("\(dir)/thermal_zone1/temp", "hot\n")
            try await sleep(ms: 1000)
            return [first, cached, fresh, await b.cpuTemperature()]
        }
        #expect(readings == [47.5, 47.5, 52.0, nil])
    }

    @Test func errorsNameTheRoleAndThePattern() throws {
        let dir = Self.tree()
        defer { _ = system("rm -rf '\(dir)'") }
        mkdir("\(dir)/28-000007aaaaaa", 0o755)
        Self.write("\(dir)/28-000007aaaaaa/temperature", "85000\n")
        Self.write("\(dir)/w1_bus_master1/garbage", "YES crc=00\n")
        let errors = try kernelTest { () async throws -> [String] in
            @KernelActor func open(_ path: String) async -> String {
                do {
                    let b = try LinuxHardware(try Self.board(path))
                    defer { b.close() }
                    return "\(try await b.value("probe").read())"
                } catch { return "\(error)" }
            }
            return [await open("\(dir)/29-*/temperature"), await open("\(dir)/28-*/temperature"), await open("\(dir)/w1_bus_master1/garbage")]
        }
        #expect(errors[0] == "role 'probe': \(dir)/29-*/temperature: no such file")
        #expect(errors[1].hasPrefix("role 'probe': \(dir)/28-*/temperature: 2 files match"))
        #expect(errors[2] == "role 'probe': \(dir)/w1_bus_master1/garbage: expected a number, got \"YES crc=00\\n\"")
        #expect(LinuxValue.readNow(ValueSpec(path: "\(dir)/28-000007aaaaaa/temperature", scale: 0.001), role: "probe").map(\.1) == .success(85.0))
    }
}
