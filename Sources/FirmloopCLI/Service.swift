import Firmware
import Kernel
import LinuxBoard

/// `run` under systemd (`Type=notify`): READY once the firmware has opened its roles and runs
/// its tasks; STATUS when health or faults change (and at most every 30 s for the numbers);
/// WATCHDOG every half of `WatchdogSec=`. The pings come from an ordinary kernel task, so a
/// task that hogs the kernel thread, a stuck loop or a stopped process starves them and
/// systemd kills and restarts the service.
@KernelActor
enum Service {
    static let statusRefreshNanoseconds: Int64 = 30_000_000_000

    static func spawn(in g: TaskGroupScope, _ notify: SystemdNotify, _ fw: Device, _ log: Logger) {
        g.spawn("service") {
            try await fw.ready.wait()
            var last = status(fw)
            send(notify, "READY=1\nSTATUS=" + last.text, log)
            var sentAt = Kernel.now
            let t = every(ms: 1000)
            while true {
                _ = try await t.tick()
                let now = status(fw)
                if now.key != last.key || (now.text != last.text && Kernel.now - sentAt >= statusRefreshNanoseconds) {
                    send(notify, "STATUS=" + now.text, log)
                    last = now
                    sentAt = Kernel.now
                }
            }
        }
        if let period = notify.watchdogNanoseconds {
            g.spawn("watchdog") {
                try await fw.ready.wait()
                let t = every(ms: max(1, Int(period / 2_000_000)))
                while true {
                    send(notify, "WATCHDOG=1", log)
                    _ = try await t.tick()
                }
            }
        }
    }

    /// What `systemctl status` shows: "online, seq 1234, backlog 0" (+ faults). `key` is the part
    /// whose change is news at once.
    static func status(_ fw: Device) -> (text: String, key: String) {
        let faults = fw.faults.keys.sorted()
        let key = fw.health.rawValue + (faults.isEmpty ? "" : "; faults: " + faults.joined(separator: ", "))
        var text = fw.health.rawValue + ", seq \(fw.pipe.lastSeq), backlog \(fw.pipe.counts.pending)"
        if !faults.isEmpty { text += "; faults: " + faults.map { "\($0): \(fw.faults[$0]!.error)" }.joined(separator: "; ") }
        return (text, key)
    }

    /// Sends one message; a failure is logged, once per kind of message, and never stops the run.
    static func send(_ notify: SystemdNotify, _ message: String, _ log: Logger) {
        if message != "WATCHDOG=1" { log.debug("systemd: " + message.split(separator: "\n").joined(separator: "; ")) }
        do { try notify.send(message) } catch {
            let kind = String(message.prefix { $0 != "=" })
            if failedKinds.insert(kind).inserted { log.warning("systemd: \(kind) not sent: \(error)") }
        }
    }
    static var failedKinds = Set<String>()
}
