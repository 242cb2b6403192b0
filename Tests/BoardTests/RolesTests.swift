import Board
import Kernel
import KernelTestSupport
import Testing

/// The one role hand-out every board uses (`RoleDevices`), and the value role kind.
@Suite struct RolesTests {
    static let description = try! BoardDescription.parse("""
        {"board": "r", "roles": {
          "led": {"type": "output", "line": "GPIO17"},
          "gps": {"type": "serial", "device": "/dev/ttyS0"},
          "probe": {"type": "value", "path": "/sys/bus/w1/devices/28-*/temperature", "scale": 0.001}}}
        """, file: "r.json")

    @KernelActor final class Thing {}

    @Test func aValueRoleKeepsItsPathAndScale() {
        let r = Self.description.role("probe")
        #expect(r?.kind == .value)
        #expect(r?.value == ValueSpec(path: "/sys/bus/w1/devices/28-*/temperature", scale: 0.001))
        #expect(RoleKind.value.phrase == "a value sensor")
    }

    @Test func eachRoleIsHandedOutOnceUntilReleasedWithErrorsNamingIt() throws {
        try kernelTest {
            var roles = RoleDevices(Self.description)
            let led = Thing(), gps = Thing(), probe = Thing()
            roles.add("led", led)
            roles.add("gps", gps)
            roles.add("probe", probe)
            let first = try roles.take("led", as: .output), second = try roles.take("probe", as: .value)
            let same = ObjectIdentifier(first) == ObjectIdentifier(led) && ObjectIdentifier(second) == ObjectIdentifier(probe)
            #expect(same)
            var errors: [String] = []
            for (role, kind) in [("led", RoleKind.output), ("probe", .value), ("gps", .input), ("valve", .output)] {
                do {
                    _ = try roles.take(role, as: kind)
                    errors.append("handed out")
                } catch {
                    errors.append("\(error)")
                }
            }
            #expect(errors == [
                "role 'led': line 'led' is in use by 'firmloop (already opened)'",
                "role 'probe': /sys/bus/w1/devices/28-*/temperature: already opened by this firmware",
                "r.json: role 'gps' is declared as serial, not input",
                "r.json: role 'valve' is not declared on this board",
            ])
            roles.releaseAll()
            let again = ObjectIdentifier(try roles.take("led", as: .output)) == ObjectIdentifier(led)
            #expect(again)
        }
    }
}
