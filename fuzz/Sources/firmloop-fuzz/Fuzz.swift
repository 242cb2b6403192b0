// Fuzz targets for everything that reads bytes from outside: the MQTT decoder (a broker), the
// NMEA framer and parser (a UART), the JSON reader (board files, commands) and the command
// handler. `make fuzz` builds this with `-sanitize=fuzzer,address` (libFuzzer's main, FUZZING
// defined) and runs each target; built normally (as `make test` does) it replays the committed
// seed corpus through the same checks:
//
//     firmloop-fuzz TARGET FILE...        (mqtt, nmea, json, command)
//     FIRMLOOP_FUZZ=mqtt firmloop-fuzz-libfuzzer fuzz/corpus/mqtt -max_total_time=60
//
// Each target checks invariants, not only "no crash": the decoder's memory stays at its
// bound and what it decodes encodes back to the same packet; the framer never hands out a
// line over its limit; a command that parses names only declared outputs.
import Board
import Firmware
import Glibc
import Kernel
import MQTT

enum Target: String, CaseIterable {
    case mqtt, nmea, json, command

    /// Runs one input through the target; a broken invariant stops the process (a finding).
    func run(_ data: UnsafeRawBufferPointer) {
        switch self {
        case .mqtt: fuzzMQTT(data)
        case .nmea: fuzzNMEA(data)
        case .json: fuzzJSON(data)
        case .command: fuzzCommand(data)
        }
    }
}

func printErr(_ text: String) { Kernel.writeAll(2, text) }

func check(_ ok: Bool, _ what: @autoclosure () -> String) {
    if !ok {
        printErr("firmloop-fuzz: invariant broken: \(what())\n")
        abort()
    }
}

/// The first byte chooses the mode and the chunk size the rest arrives in (a socket delivers
/// a packet in any number of reads).
func fuzzMQTT(_ data: UnsafeRawBufferPointer) {
    guard let first = data.first else { return }
    let rest = UnsafeRawBufferPointer(rebasing: data.dropFirst())
    let limit = 512
    var d = Decoder(maxPacket: limit, skippingOversizedPublish: first & 0x80 != 0)
    let chunk = 1 + Int(first & 0x3F)
    var i = 0
    while i < rest.count {
        d.append(UnsafeRawBufferPointer(rebasing: rest[i..<min(rest.count, i + chunk)]))
        i += chunk
        while true {
            let packet: Packet?
            do { packet = try d.next() } catch { return }   // an error ends the connection
            guard let p = packet else { break }
            if case .publish(let pub) = p, pub.discardedBytes > 0 {
                check(pub.payload.isEmpty, "a skipped PUBLISH kept its payload")
                continue
            }
            var again = Decoder(maxPacket: 1 << 20)
            again.append(p.bytes)
            let back = try? again.next()
            check(back == p, "decode(encode(\(p.name))) differs: \(String(describing: back))")
        }
        // One packet's header (a topic of up to 65,535 bytes), the limit and a chunk at most.
        check(d.pending <= limit + 65_541 + chunk, "the decoder holds \(d.pending) bytes")
    }
}

func fuzzNMEA(_ data: UnsafeRawBufferPointer) {
    var framer = LineFramer(maxLine: 120)
    var parser = NMEAParser()
    framer.feed(data) { line in
        check(line.count <= 120, "a line of \(line.count) bytes passed the framer")
        _ = parser.parse(line)
        let f = parser.fix
        if let lat = f.lat { check(lat.isFinite && abs(lat) <= 90, "latitude \(lat)") }
        if let lon = f.lon { check(lon.isFinite && abs(lon) <= 180, "longitude \(lon)") }
    }
}

func fuzzJSON(_ data: UnsafeRawBufferPointer) {
    if let doc = try? JSON.parse(bytes: Array(data), maxDepth: 64) {
        // What it wrote reads back to the same text.
        let text = doc.text
        let again = try? JSON.parse(text)
        check(again?.text == text, "JSON text does not read back: \(text.prefix(200))")
    }
    _ = try? BoardDescription.parse(String(decoding: data, as: UTF8.self), file: "fuzz.json")
}

let commandBoard = try! BoardDescription.parse("""
    {"board": "fuzz", "roles": {
      "status_led": {"type": "output", "line": "GPIO17"}, "relay": {"type": "output", "line": "GPIO27"},
      "button": {"type": "input", "line": "GPIO22"}, "gps_uart": {"type": "serial", "device": "/dev/null", "settings": "9600 8N1"}}}
    """, file: "fuzz.json")

func fuzzCommand(_ data: UnsafeRawBufferPointer) {
    let (_, result) = Command.parse(Array(data), board: commandBoard, outputs: ["relay"], statusRole: "status_led")
    if case .success(let c) = result {
        check(c.set.allSatisfy { $0.role == "relay" }, "a command sets \(c.set)")
        check(!c.set.isEmpty || c.snapshot, "a command that does nothing was accepted")
    }
}

#if FUZZING
let selected: Target = {
    let name = getenv("FIRMLOOP_FUZZ").map { String(cString: $0) } ?? ""
    guard let t = Target(rawValue: name) else {
        printErr("set FIRMLOOP_FUZZ to one of: \(Target.allCases.map(\.rawValue).joined(separator: ", "))\n")
        exit(2)
    }
    return t
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selected.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
/// Replays files through a target (the seed corpus in `make test`, a crash file by hand).
@main struct Replay {
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        guard let name = args.first, let t = Target(rawValue: name), args.count > 1 else {
            printErr("usage: firmloop-fuzz \(Target.allCases.map(\.rawValue).joined(separator: "|")) FILE...\n")
            exit(2)
        }
        for path in args.dropFirst() {
            guard let bytes = readFileBytes(path) else {
                printErr("firmloop-fuzz: cannot read \(path)\n")
                exit(1)
            }
            bytes.withUnsafeBytes { t.run($0) }
        }
        print("firmloop-fuzz \(name): \(args.count - 1) inputs, every invariant held")
    }
}
#endif
