import Board
import CGPIOD
import CSystem
import CTestSupport
import Glibc
import Kernel
import KernelTestSupport
import Testing
@testable import LinuxBoard

/// What a Pi 5 looks like to libgpiod (trimmed): the RP1's header lines by name, plus another
/// chip that also has a line called "GPIO17".
let pi5: [GPIOChipInfo] = [
    GPIOChipInfo(name: "gpiochip0", label: "pinctrl-rp1", lines: (0..<54).map {
        GPIOLineInfo(offset: $0, name: $0 < 28 ? "GPIO\($0)" : nil, consumer: nil, isOutput: false, isUsed: false, activeLow: false)
    }),
    GPIOChipInfo(name: "gpiochip10", label: "rpi-firmware-gpio", lines: [
        GPIOLineInfo(offset: 0, name: "GPIO17", consumer: nil, isOutput: false, isUsed: false, activeLow: false),
        GPIOLineInfo(offset: 1, name: "RP1_RUN", consumer: nil, isOutput: true, isUsed: true, activeLow: false),
    ]),
]

@Suite struct LineLookupTests {
    func find(_ spec: LineSpec, _ chips: [GPIOChipInfo] = pi5) -> String {
        switch LineLookup.resolve(spec, role: "relay", chips: chips) {
        case .success(let (c, o)): return "\(chips[c].name) \(o)"
        case .failure(let e): return e.description
        }
    }

    @Test func rules() {
        // By name on the labelled chip, wherever that chip is numbered.
        #expect(find(LineSpec(name: "GPIO17", chip: "pinctrl-rp1")) == "gpiochip0 17")
        var moved = pi5
        moved[0].name = "gpiochip4"   // the Pi 5 before kernel 6.6.45
        #expect(find(LineSpec(name: "GPIO17", chip: "pinctrl-rp1"), moved) == "gpiochip4 17")
        // By name on any chip: only if exactly one chip has it.
        #expect(find(LineSpec(name: "GPIO22")) == "gpiochip0 22")
        #expect(find(LineSpec(name: "GPIO17")) == "role 'relay': a line named 'GPIO17' is on several chips (pinctrl-rp1 (gpiochip0), rpi-firmware-gpio (gpiochip10)): give the chip label in the board file")
        #expect(find(LineSpec(name: "RP1_RUN")) == "gpiochip10 1")
        // By label + offset.
        #expect(find(LineSpec(chip: "rpi-firmware-gpio", offset: 1)) == "gpiochip10 1")
        // What is missing is named.
        #expect(find(LineSpec(name: "GPIO17", chip: "pinctrl-bcm2711")) == "role 'relay': no GPIO chip labelled 'pinctrl-bcm2711' on this machine")
        #expect(find(LineSpec(name: "GPIO99", chip: "pinctrl-rp1")) == "role 'relay': no GPIO line named 'GPIO99' on chip 'pinctrl-rp1'")
        #expect(find(LineSpec(name: "GPIO99")) == "role 'relay': no GPIO line named 'GPIO99' on any chip")
        #expect(find(LineSpec(chip: "pinctrl-rp1", offset: 54)) == "role 'relay': chip 'pinctrl-rp1' has 54 lines, no offset 54")
        #expect(find(LineSpec(name: "GPIO17", chip: "pinctrl-rp1"), []) == "role 'relay': line GPIO17 on pinctrl-rp1 not found: this machine has no GPIO chips (no /dev/gpiochip*)")
    }

    /// The backend this build has (v1 on Debian 12's libgpiod, v2 with scripts/libgpiod-v2.sh
    /// on PKG_CONFIG_PATH): its raw events, as the library hands them out, become logical edges
    /// on the monotonic clock. Every other test here runs on both builds unchanged.
    @Test func eventsDecodeToLogicalEdgesOnTheMonotonicClock() {
        #if FIRMLOOP_GPIOD_V2
        #expect(GPIOChip.backend.hasPrefix("libgpiod v2 ("), "\(GPIOChip.backend)")
        let rise = GPIORequest.event(type: GPIOD_EDGE_EVENT_RISING_EDGE, nanoseconds: 12_000_000_345)
        let fall = GPIORequest.event(type: GPIOD_EDGE_EVENT_FALLING_EDGE, nanoseconds: 999_999_999)
        #else
        #expect(GPIOChip.backend.hasPrefix("libgpiod v1 ("), "\(GPIOChip.backend)")
        var r = gpiod_line_event(), f = gpiod_line_event()
        r.event_type = Int32(GPIOD_LINE_EVENT_RISING_EDGE)
        r.ts = timespec(tv_sec: 12, tv_nsec: 345)
        f.event_type = Int32(GPIOD_LINE_EVENT_FALLING_EDGE)
        f.ts = timespec(tv_sec: 0, tv_nsec: 999_999_999)
        let (rise, fall) = (GPIORequest.event(r), GPIORequest.event(f))
        #endif
        #expect(LinuxEdges.decode(rise) == EdgeEvent(rising: true, time: 12_000_000_345))
        #expect(LinuxEdges.decode(fall) == EdgeEvent(rising: false, time: 999_999_999))
    }

    @Test func busyAndMissingErrorsNameTheLine() {
        #expect(BoardError.lineBusy(line: "GPIO27 on pinctrl-rp1 (gpiochip0 line 27)", consumer: "gpioset", role: "relay").description
                == "role 'relay': line 'GPIO27 on pinctrl-rp1 (gpiochip0 line 27)' is in use by 'gpioset'")
    }
}

var machineHasGPIOChips: Bool { directoryEntries("/dev").contains { $0.hasPrefix("gpiochip") } }

@Suite struct LinuxBoardTests {
    /// On a machine without the Pi's chip, a Pi board file fails at once naming the line and
    /// chip it looked for, and holds nothing afterwards.
    @Test func aPiBoardFileOnAnotherMachineFailsNamingWhatIsMissing() throws {
        let d = try BoardDescription.load(path: "\(repositoryRoot)/boards/raspberrypi-4b.json")
        let message = try kernelTest { () -> String in
            do { _ = try LinuxHardware(d); return "opened" } catch { return "\(error)" }
        }
        if machineHasGPIOChips {
            #expect(message == "role 'status_led': no GPIO chip labelled 'pinctrl-bcm2711' on this machine")
        } else {
            #expect(message == "role 'status_led': line GPIO17 on pinctrl-bcm2711 not found: this machine has no GPIO chips (no /dev/gpiochip*)")
        }
    }

    @Test func aSerialOnlyBoardOpensItsPortsAndReleasesThem() throws {
        var name = [CChar](repeating: 0, count: 128)
        let m = fl_openpty(&name, 128)
        defer { close(m) }
        let path = String(cString: name)
        let d = try BoardDescription.parse(#"{"board": "t", "roles": {"gps_uart": {"type": "serial", "device": "\#(path)", "settings": "9600 8N1"}}}"#, file: "t.json")
        try kernelTest {
            let b = try LinuxHardware(d)
            let port = try b.serial("gps_uart")
            #expect(port.settings.baud == 9600)
            #expect(throws: BoardError.deviceBusy(path: path, role: "gps_uart")) { try b.serial("gps_uart") }
            #expect(throws: BoardError.roleNotDeclared(role: "relay", file: "t.json")) { try b.output("relay") }
            b.close()
            let again = try LinuxHardware(d)   // nothing left busy
            again.close()
        }
    }

    @Test(.enabled(if: machineHasGPIOChips, "needs /dev/gpiochip* (on a Pi; make hil checks chips and lines in a VM with firmloop probe)"))
    func realChipsAreListed() throws {
        let chips = GPIOChip.all()
        #expect(!chips.isEmpty)
        for c in chips { #expect(!c.label.isEmpty && c.lineCount > 0) }
    }
}
