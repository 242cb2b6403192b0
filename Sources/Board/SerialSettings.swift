/// Serial line settings written as people write them: "115200 8N1", "9600 7E2", "57600 8N1 rtscts".
public struct SerialSettings: Sendable, Equatable, CustomStringConvertible {
    public enum Parity: String, Sendable { case none = "N", even = "E", odd = "O" }

    public var baud: Int
    public var dataBits: Int
    public var parity: Parity
    public var stopBits: Int
    /// Hardware flow control (RTS/CTS).
    public var rtsCts: Bool

    /// The rates termios has constants for between 1200 and 921600 baud.
    public static let standardRates = [1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600, 115200,
                                       230400, 460800, 500000, 576000, 921600]

    public init(baud: Int = 9600, dataBits: Int = 8, parity: Parity = .none, stopBits: Int = 1, rtsCts: Bool = false) {
        self.baud = baud
        self.dataBits = dataBits
        self.parity = parity
        self.stopBits = stopBits
        self.rtsCts = rtsCts
    }

    /// Parses "BAUD DPS [rtscts]"; the error text says what is wrong.
    public static func parse(_ text: String) -> Result<SerialSettings, SettingsError> {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count >= 1, parts.count <= 3 else { return .failure(SettingsError("expected \"BAUD 8N1\" (e.g. \"115200 8N1\"), got \"\(text)\"")) }
        guard let baud = Int(parts[0]) else { return .failure(SettingsError("baud \"\(parts[0])\" is not a number")) }
        guard standardRates.contains(baud) else {
            return .failure(SettingsError("baud \(baud) is not a standard rate (\(standardRates.map(String.init).joined(separator: ", ")))"))
        }
        var s = SerialSettings(baud: baud)
        if parts.count >= 2 {
            let f = Array(parts[1].uppercased())
            guard f.count == 3, let d = Int(String(f[0])), (5...8).contains(d),
                  let p = Parity(rawValue: String(f[1])), let st = Int(String(f[2])), st == 1 || st == 2 else {
                return .failure(SettingsError("frame \"\(parts[1])\" is not DATA-PARITY-STOP like 8N1 (data 5-8, parity N/E/O, stop 1 or 2)"))
            }
            s.dataBits = d
            s.parity = p
            s.stopBits = st
        }
        if parts.count == 3 {
            guard parts[2].lowercased() == "rtscts" else { return .failure(SettingsError("unknown option \"\(parts[2])\" (only \"rtscts\")")) }
            s.rtsCts = true
        }
        return .success(s)
    }

    /// Bits on the wire per character: start + data + parity + stop.
    public var bitsPerCharacter: Int { 1 + dataBits + (parity == .none ? 0 : 1) + stopBits }

    /// Nanoseconds one character takes on the wire.
    public var characterNanoseconds: Int64 { Int64(bitsPerCharacter) * 1_000_000_000 / Int64(baud) }

    public var description: String {
        "\(baud) \(dataBits)\(parity.rawValue)\(stopBits)" + (rtsCts ? " rtscts" : "")
    }
}

public struct SettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}
