import Testing
import KernelTestSupport

/// The kernel where `epoll_pwait2` does not exist (Linux before 5.11, qemu-user before 11: the
/// call says ENOSYS): it waits with `epoll_wait` instead, timeouts rounded up to 1 ms, and the
/// firmware runs as anywhere else. Proven on the `firmloop` binary under a seccomp filter that
/// makes the call fail as such a kernel does (the helper checks the filter bites).
@Suite struct EpollFallbackTests {
    @Test func theFirmwareRunsWhereEpollPwait2IsMissing() throws {
        let dir = temporaryDirectory("epoll")
        let out = dir + "/out"
        // Real time: timers, the GPS UART's reads, the outbox's offloads all wait in epoll.
        let p = try ChildProcess(firmloopExecutable, ["run", "--board", "\(repositoryRoot)/boards/sim.json", "--duration", "3",
                                                      "--device-id", "epoll", "--outbox", dir + "/o.outbox", "--snapshot-interval", "250"],
                                 output: out, withoutEpollPwait2: true)
        let status = p.wait()
        let text = readFile(out) ?? ""
        #expect(status != 125 && status != 126, "the seccomp filter did not take (exit \(status))")
        #expect(status == 0, "\(text)")
        #expect(!text.contains("failed (errno"), "\(text)")
        // A snapshot every 250 ms for 3 s, the first at once: the waits neither spin nor hang.
        let last = text.split(separator: "\n").last { $0.hasPrefix("t=") } ?? ""
        let taken = last.split(separator: " ").drop { $0 != "taken" }.dropFirst().first.flatMap { Int($0) }
        #expect(taken.map { (10...14).contains($0) } == true, "\(last)")
    }
}
