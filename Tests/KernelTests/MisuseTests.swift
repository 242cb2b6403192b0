import Glibc
import KernelTestSupport
import Testing
@testable import Kernel

/// Misuse gets a clear message, not a hang.
@Suite struct MisuseTests {
    @Test func nestedRunIsRefused() throws {
        let error = try kernelTest { () async throws -> KernelError? in
            do {
                _ = try Kernel.run { 1 }
                return nil
            } catch let e as KernelError { return e }
        }
        #expect(error == .alreadyRunning(nested: true))
        #expect(error?.description.contains("from inside a running kernel") == true)
    }

    @Test func concurrentRunIsRefused() throws {
        let got = Locked<KernelError?>(nil)
        try kernelTest(virtual: false) { () async throws -> Void in
            let done = Signal()
            let t = Thread {
                do { _ = try Kernel.run { 1 } } catch let e as KernelError { got.set(e) } catch {}
                done.raise()
            }
            try await done.wait()
            t.join()
        }
        #expect(got.get() == .alreadyRunning(nested: false))
        #expect(got.get()?.description.contains("another thread") == true)
    }

    @Test func deadlockIsReportedWithWhoWaitsForWhat() throws {
        #expect {
            try kernelTest { () async throws -> Void in
                let never = Event()
                let ch = Channel<Int>(capacity: 1, name: "c")
                spawn("stuck-reader") { _ = try await ch.receive() }
                try await never.wait()
            }
        } throws: { e in
            e as? KernelError == .deadlock(waiting: ["'main' (Event.wait)", "'stuck-reader' (Channel.receive)"])
        }
    }

    @Test func waitOnClosedDescriptor() throws {
        // Not a number some other test just closed: tests run in parallel and fds get reused.
        let a: Int32 = 1_000_000
        #expect(fcntl(a, F_GETFD) == -1)
        let error = try kernelTest { () async throws -> KernelError? in
            do { try await readable(a); return nil } catch let e as KernelError { return e }
        }
        #expect(error == .badDescriptor(fd: a, operation: "readable"))
        #expect(error?.description == "readable(fd: \(a)): fd \(a) is not an open file descriptor (EBADF)")
    }

    @Test func descriptorClosedWhileWaitedOn() throws {
        let (a, b) = socketPair()
        defer { close(b) }
        let error = try kernelTest { () async throws -> KernelError? in
            let waiter = spawn("reader") { () async throws -> KernelError? in
                do { try await readable(a); return nil } catch let e as KernelError { return e }
            }
            try await yield()
            closeDescriptor(a)
            return try await waiter.value
        }
        #expect(error == .closed(fd: a))
    }

    @Test func twoReadersOnOneDescriptor() throws {
        let (a, b) = socketPair()
        defer { close(a); close(b) }
        let error = try kernelTest { () async throws -> KernelError? in
            let first = spawn("first") { try await readable(a) }
            try await yield()
            defer { first.cancel() }
            do { try await readable(a); return nil } catch let e as KernelError { return e }
        }
        #expect(error == .descriptorBusy(fd: a, write: false, waiter: "first"))
    }

    @Test func regularFilesCannotBePolled() throws {
        let fd = open("/proc/self/exe", O_RDONLY)
        defer { close(fd) }
        let error = try kernelTest { () async throws -> KernelError? in
            do { try await readable(fd); return nil } catch let e as KernelError { return e }
        }
        #expect(error == .notPollable(fd: fd))
    }

    @Test func channelAfterClose() throws {
        let (err, received) = try kernelTest { () async throws -> (KernelError?, Int?) in
            let ch = Channel<Int>(capacity: 4, name: "telemetry")
            try await ch.send(1)
            ch.close()
            var e: KernelError?
            do { try await ch.send(2) } catch let x as KernelError { e = x }
            let first = try await ch.receive()
            #expect(try await ch.receive() == nil)
            return (e, first)
        }
        #expect(err == .channelClosed(name: "telemetry"))
        #expect(received == 1, "what was buffered before close() is still delivered")
    }

    @Test func tasksIgnoringCancellationAtShutdownAreAbandonedNotAwaitedForever() throws {
        let opts = KernelOptions(clock: .virtual(), shutdownGraceMilliseconds: 100)
        let r = try kernelTest(options: opts) { () async throws -> Int in
            // Waits on something the kernel cannot cancel (a continuation nobody resumes).
            spawn("stubborn") { await withUnsafeContinuation { (_: UnsafeContinuation<Void, Never>) in } }
            try await yield()
            return 1
        }
        #expect(r == 1)
        // The next run starts clean.
        #expect(try kernelTest { Kernel.stats().map(\.name) } == ["main"])
    }
}
