import Board
import Firmware
import Testing

/// `Command.parse`: every command is checked whole against the board before anything changes.
@Suite struct CommandParseTests {
    static let board = try! BoardDescription.parse("""
        {"board": "t", "roles": {"status_led": {"type": "output", "line": "GPIO17"}, "relay": {"type": "output", "line": "GPIO27"},
         "button": {"type": "input", "line": "GPIO22"}, "gps_uart": {"type": "serial", "device": "/dev/null", "settings": "9600 8N1"}}}
        """, file: "t.json")

    static func parse(_ text: String) -> (String?, Result<Command, CommandError>) {
        let (id, r) = Command.parse(Array(text.utf8), board: board, outputs: ["relay"], statusRole: "status_led")
        return (id, r)
    }

    static let refused: [(String, String?, String)] = [
        (#"{"id":"c3","set":{"button":true}}"#, "c3", "set.button: 'button' is an input, not an output"),
        (#"{"id":"c4","set":{"relay":"yes"}}"#, "c4", #"set.relay: expected true or false, got "yes""#),
        (#"{"id":"c5","set":{"status_led":true}}"#, "c5", "set.status_led: the status LED is the firmware's own"),
        (#"{"id":"c6","set":{"gps_uart":true}}"#, "c6", "set.gps_uart: 'gps_uart' is a serial port, not an output"),
        (#"{"id":"c7","set":{"valve":true}}"#, "c7", "set.valve: unknown role (outputs: relay)"),
        (#"{"id":7,"reboot":true}"#, "7", "unknown key 'reboot' (expected id, set, snapshot, expires)"),
        (#"{"id":"c8","snapshot":false}"#, "c8", "nothing to do (expected set or snapshot)"),
        (#"{"id":"c9","set":{}}"#, "c9", "set: expected an object of role: true/false (a PWM output: a duty from 0 to 1)"),
        (#"{"id":[1]}"#, nil, "id: expected a string or an integer, got an array"),
        (#"[1]"#, nil, "expected a JSON object, got an array"),
        (#"{"id":"c10","set":{"relay":1e999}}"#, nil, "bad JSON: line 1, column 28: number 1e999 is out of range"),
        (#"{"id":"c11","set":{"relay":true},"expires":"tomorrow"}"#, "c11", #"expires: expected a UTC time such as "2026-11-25T12:00:00Z", got "tomorrow""#),
    ]

    @Test func expiresIsAUTCTime() throws {
        let (_, r) = Self.parse(#"{"id":"c1","set":{"relay":true},"expires":"2026-11-25T12:00:00Z"}"#)
        let c = try r.get()
        #expect(c.expires == parseISO8601("2026-11-25T12:00:00Z") && c.expires != nil)
    }

    @Test(arguments: refused.indices)
    func refusedWithTheIdAndWhy(_ i: Int) {
        let (text, wantID, why) = Self.refused[i]
        let (id, r) = Self.parse(text)
        #expect(id == wantID)
        guard case .failure(let e) = r else { Issue.record("accepted \(text)"); return }
        #expect(e.description == why)
    }

    @Test func acceptedCommandsSayWhatToDo() {
        #expect(Self.parse(#"{"id":"c1","set":{"relay":true}}"#).1 == .success(Command(id: "c1", set: [.init(role: "relay", value: true)])))
        #expect(Self.parse(#"{"id":2,"set":{"relay":0},"snapshot":true}"#).1
                == .success(Command(id: "2", set: [.init(role: "relay", value: false)], snapshot: true)))
        #expect(Self.parse(#"{"snapshot":true}"#).1 == .success(Command(id: nil, snapshot: true)))
    }
}
