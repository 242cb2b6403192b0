import Board
import KernelTestSupport
import Testing

@Suite struct BoardFileTests {
    @Test(arguments: ["raspberrypi-4b", "raspberrypi-5", "raspberrypi-4b-sensors", "raspberrypi-5-sensors", "host-serial", "sim", "hil", "hil-buses"])
    func shippedBoardFilesLoad(_ name: String) throws {
        let d = try BoardDescription.load(path: "\(repositoryRoot)/boards/\(name).json")
        #expect(d.board == name)
        #expect(!d.roles.isEmpty)
        for r in d.roles where r.kind.isLine {
            // Header lines by name, never by a chip number.
            #expect(r.line?.name?.hasPrefix("GPIO") == true, "\(name): \(r.name)")
        }
    }

    @Test func piFilesFindTheHeaderByLabelNotNumber() throws {
        let pi5 = try BoardDescription.load(path: "\(repositoryRoot)/boards/raspberrypi-5.json")
        #expect(pi5.role("button")?.line?.chip == "pinctrl-rp1")
        #expect(pi5.role("button")?.line?.bias == .pullUp)
        #expect(pi5.role("button")?.line?.activeLow == true)
        #expect(pi5.role("button")?.line?.debounceMilliseconds == 20)
        #expect(pi5.role("gps_uart")?.settings == SerialSettings(baud: 9600))
        let pi4 = try BoardDescription.load(path: "\(repositoryRoot)/boards/raspberrypi-4b.json")
        #expect(pi4.role("relay")?.line == LineSpec(name: "GPIO27", chip: "pinctrl-bcm2711"))
        let host = try BoardDescription.load(path: "\(repositoryRoot)/boards/host-serial.json")
        #expect(host.roles(of: .output).isEmpty && host.roles(of: .input).isEmpty)
    }

    @Test func aBoardWithSomeRolesIsFine() throws {
        let d = try BoardDescription.parse(#"{"board": "x", "roles": {"relay": {"type": "output", "chip": "gpio-sim", "offset": 3}}}"#, file: "x.json")
        #expect(d.roles.map(\.name) == ["relay"])
        #expect(d.role("relay")?.line?.label == "gpio-sim line 3")
        #expect(d.role("button") == nil)
    }

    /// Each broken file, and the problems loading must report (file:line: key: message parts).
    static let broken: [(String, [String])] = [
        (#"{"board": "b", "roles": {"led": {"type": "lamp", "line": "GPIO1"}}}"#,
         ["b.json:1: roles.led.type: unknown role type 'lamp'"]),
        (#"{"board": "b", "roles": {"a": {"type": "output", "line": "GPIO5"}, "b": {"type": "input", "line": "GPIO5"}}}"#,
         ["roles.b.line: line GPIO5 is already used by role 'a'"]),
        (#"{"board": "b", "roles": {"gps": {"type": "serial", "device": "/dev/ttyS0", "settings": "9601 8N1"}}}"#,
         ["roles.gps.settings: baud 9601 is not a standard rate"]),
        (#"{"board": "b", "roles": {"gps": {"type": "serial", "device": "/dev/ttyS0", "settings": "9600 9N1"}}}"#,
         ["roles.gps.settings: frame \"9N1\""]),
        (#"{"board": "b", "roles": {"gps": {"type": "serial", "settings": "9600 8N1"}}}"#,
         ["roles.gps.device: missing (required)"]),
        (#"{"board": "b", "roles": {"btn": {"type": "input"}}}"#,
         ["roles.btn.line: missing: give \"line\""]),
        (#"{"board": "b", "roles": {"btn": {"line": "GPIO2"}}}"#,
         ["roles.btn.type: missing (required)"]),
        (#"{"roles": {"btn": {"type": "input", "line": "GPIO2", "bias": "pull_up", "debunce_ms": 5}}}"#,
         ["board: missing (required)", "roles.btn.bias: 'pull_up' is not one of pull-up", "roles.btn.debunce_ms: unknown key"]),
        (#"{"board": "b", "roles": {"led": {"type": "output", "offset": 4}}}"#,
         ["roles.led.chip: an offset needs a chip label"]),
        (#"{"board": "b", "roles": {"led": {"type": "output", "line": "GPIO4", "debounce_ms": 5}}}"#,
         ["roles.led.debounce_ms: only inputs have debounce_ms"]),
        (#"{"board": "b", "roles": {"a": {"type": "serial", "device": "/dev/ttyS0"}, "b": {"type": "serial", "device": "/dev/ttyS0"}}}"#,
         ["roles.b.device: device /dev/ttyS0 is already used by role 'a'"]),
        (#"{"board": "b", "roles": {"gps": {"type": "serial", "device": "ttyS0"}}}"#,
         ["roles.gps.device: expected an absolute device path"]),
        (#"{"board": "b", "roles": {}}"#, ["roles: declares no roles"]),
        (#"{"board": "b", "roles": {"x": {"type": "output", "line": "GPIO1"}}"#, ["b.json:1: not valid JSON"]),
        (#"["not", "an", "object"]"#, ["expected a JSON object at the top"]),
        (#"{"board": "b", "roles": {"t": {"type": "value", "scale": "milli"}}}"#,
         ["roles.t.path: missing (required)", "roles.t.scale: expected a number"]),
        (#"{"board": "b", "roles": {"t": {"type": "value", "path": "temperature", "line": "GPIO4"}}}"#,
         ["roles.t.path: expected an absolute path", "roles.t.line: unknown key"]),
        (#"{"board": "b", "roles": {"t": {"type": "value", "path": "/t", "device_class": "Temp C", "state_class": "average", "precision": 12, "interval": "1ms"}}}"#,
         ["roles.t.device_class: expected a Home Assistant sensor device class", "roles.t.state_class: expected one of measurement, measurement_angle, total, total_increasing, none",
          "roles.t.precision: ", "roles.t.interval: expected at least 100ms"]),
        (#"{"board": "b", "roles": {"x": {"type": "output", "line": "GPIO1"}}, "simm": {}}"#, ["simm: unknown key"]),
        (#"{"board": "b", "roles": {"x": {"type": "output", "line": "GPIO1"}}, "sim": 3}"#, ["sim: expected an object"]),
        (#"{"board": 4, "roles": {"x": {"type": "output", "line": "GPIO1", "active_low": "yes"}}}"#,
         ["board: expected a string, found a number", "roles.x.active_low: expected true or false, found a string"]),
    ]

    @Test func aValueRoleSaysWhatItIs() throws {
        let b = try BoardDescription.parse(#"""
            {"board": "b", "roles": {
              "water": {"type": "value", "path": "/sys/bus/w1/devices/28-*/temperature", "scale": 0.001, "unit": "°C",
                        "device_class": "temperature", "precision": 1, "interval": "30s"},
              "count": {"type": "value", "path": "/sys/x", "state_class": "none"}}}
            """#, file: "b.json")
        let w = try #require(b.role("water")?.value)
        #expect(w.unit == "°C" && w.deviceClass == "temperature" && w.stateClass == "measurement" && w.precision == 1)
        #expect(w.intervalNanoseconds == 30_000_000_000 && w.scale == 0.001)
        let c = try #require(b.role("count")?.value)
        #expect(c.stateClass == nil && c.unit == nil && c.intervalNanoseconds == 10_000_000_000)
    }

    @Test(arguments: broken.indices)
    func brokenFilesReportEveryProblemWithFileAndKey(_ i: Int) {
        let (text, wanted) = Self.broken[i]
        do {
            _ = try BoardDescription.parse(text, file: "b.json")
            Issue.record("accepted a broken board file: \(text)")
        } catch let e as FileProblems {
            let message = e.description
            #expect(message.hasPrefix("b.json: "))
            #expect(e.problems.count == wanted.count, "\(message)")
            for w in wanted { #expect(message.contains(w), "missing '\(w)' in:\n\(message)") }
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func problemsCarryTheirLineNumbers() {
        let text = """
            {
              "board": "b",
              "roles": {
                "led": {"type": "output", "line": "GPIO4"},
                "btn": {"type": "input", "line": "GPIO4",
                        "bias": "up"}
              }
            }
            """
        do {
            _ = try BoardDescription.parse(text, file: "boards/b.json")
            Issue.record("accepted")
        } catch let e as FileProblems {
            #expect(e.problems.map(\.description).sorted() == [
                "boards/b.json:5: roles.btn.line: line GPIO4 is already used by role 'led'",
                "boards/b.json:6: roles.btn.bias: 'up' is not one of pull-up, pull-down, disabled, as-is",
            ])
        } catch { Issue.record("\(error)") }
    }

    @Test func missingFileNamesThePath() {
        #expect(throws: FileProblems.self) { try BoardDescription.load(path: "/nonexistent/board.json") }
        do { _ = try BoardDescription.load(path: "/nonexistent/board.json") } catch {
            #expect("\(error)".contains("/nonexistent/board.json: cannot read the board file: No such file or directory"))
        }
    }
}

@Suite struct SettingsAndTextTests {
    @Test func serialSettings() throws {
        #expect(try SerialSettings.parse("115200 8N1").get() == SerialSettings(baud: 115200))
        #expect(try SerialSettings.parse("9600 7E2").get() == SerialSettings(baud: 9600, dataBits: 7, parity: .even, stopBits: 2))
        #expect(try SerialSettings.parse("57600 8O1 rtscts").get().rtsCts)
        #expect(try SerialSettings.parse("921600").get().bitsPerCharacter == 10)
        #expect(SerialSettings(baud: 9600).characterNanoseconds == 1_041_666)
        #expect(SerialSettings(baud: 9600, dataBits: 7, parity: .even, stopBits: 2).bitsPerCharacter == 11)
        for bad in ["", "fast 8N1", "9601 8N1", "9600 8X1", "9600 8N3", "9600 4N1", "9600 8N1 xonxoff", "9600 8N1 a b"] {
            guard case .failure = SerialSettings.parse(bad) else { Issue.record("accepted '\(bad)'"); continue }
        }
        for rate in SerialSettings.standardRates { #expect((try? SerialSettings.parse("\(rate) 8N1").get()) != nil) }
    }

    @Test func durations() {
        #expect(DurationText.parse("250ms") == 250_000_000)
        #expect(DurationText.parse("1.5s") == 1_500_000_000)
        #expect(DurationText.parse("10m") == 600_000_000_000)
        #expect(DurationText.parse("24h") == 86_400_000_000_000)
        #expect(DurationText.parse("7d") == Int64(604_800_000_000_000), "\(String(describing: DurationText.parse("7d")))")
        #expect(DurationText.parse("40") == 40_000_000)
        #expect(DurationText.parse("soon") == nil)
        #expect(DurationText.parse("-3s") == nil)
        #expect(DurationText.format(1_250_000_000) == "1.250 s")
        #expect(DurationText.format(86_400_000_000_000) == "24 h")
    }

    @Test func iso8601RoundTrip() {
        #expect(iso8601(unixNanoseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(iso8601(unixNanoseconds: 1_767_225_600_000_000_000) == "2026-01-01T00:00:00.000Z")
        #expect(iso8601(unixNanoseconds: 951_782_400_123_000_000) == "2000-02-29T00:00:00.123Z")
        #expect(parseISO8601("2026-01-01T00:00:00Z") == 1_767_225_600_000_000_000)
        #expect(parseISO8601("2000-02-29T00:00:00.123Z") == 951_782_400_123_000_000)
        #expect(parseISO8601("2026-13-01T00:00:00Z") == nil)
        #expect(parseISO8601("yesterday") == nil)
    }

    @Test func json() throws {
        let j = try JSON.parse(#"{"a": [1, -2.5e1, true, null], "b": "x\"\u00e9\ud83d\ude00\n", "c": {}}"#)
        #expect(j["a"]?.array?.count == 4)
        #expect(j["a"]?.array?[1].number == -25)
        #expect(j["b"]?.string == "x\"é😀\n")
        #expect(j["c"]?.members?.isEmpty == true)
        #expect(j.text == #"{"a":[1,-25,true,null],"b":"x\"é😀\n","c":{}}"#)
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "01x", "\"\\x\"", "\"\u{1}\"", "tru", "{} {}", "\"\\ud800\"",
                    String(repeating: "[", count: 100) + String(repeating: "]", count: 100)] {
            #expect(throws: JSONSyntaxError.self, "accepted \(bad)") { try JSON.parse(bad) }
        }
        do { _ = try JSON.parse("{\n\"a\": tru\n}") } catch { #expect(error.line == 2) }
    }

    /// Issue 16 (cosmetic): `1e999` was read as infinity and reported as "got null"; a byte
    /// 0xFF was shown as 'ÿ'. Errors now show what is really there.
    @Test func jsonErrorsShowWhatIsReallyThere() {
        func why(_ bytes: [UInt8]) -> String {
            do { _ = try JSON.parse(bytes: bytes, maxDepth: 8); return "parsed" } catch { return "\(error)" }
        }
        #expect(why(Array(#"{"relay":1e999}"#.utf8)).hasSuffix("number 1e999 is out of range"), "\(why(Array(#"{"relay":1e999}"#.utf8)))")
        #expect(why(Array(#"[-1e-999, 1.5e308]"#.utf8)) == "parsed")   // underflow to 0 and large finite numbers are fine
        #expect(why([0x5B, 0xFF, 0x5D]).hasSuffix("unexpected byte 0xFF"), "\(why([0x5B, 0xFF, 0x5D]))")
        #expect(why([0x5B, 0x01, 0x5D]).hasSuffix("unexpected byte 0x01"))
        #expect(why(Array("[x]".utf8)).hasSuffix("unexpected character 'x'"))
        #expect(why(Array(#"["\q"]"#.utf8)).hasSuffix(#"unknown escape \ followed by character 'q'"#), "\(why(Array(#"["\q"]"#.utf8)))")
    }
}
