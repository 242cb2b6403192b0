import Board
import Glibc
import Kernel
import KernelTestSupport
import Testing
@testable import LinuxBoard

/// A non-blocking TCP listener on the loopback address of `family`, on a free port.
func listener(_ family: Int32) -> (fd: Int32, port: Int)? {
    let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { return nil }
    var ok: Int32
    if family == AF_INET6 {
        var a = sockaddr_in6()
        a.sin6_family = sa_family_t(AF_INET6)
        a.sin6_addr = in6addr_loopback
        ok = withUnsafePointer(to: &a) { bind(fd, UnsafeRawPointer($0).assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_in6>.size)) }
    } else {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        ok = withUnsafePointer(to: &a) { bind(fd, UnsafeRawPointer($0).assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard ok == 0, listen(fd, 8) == 0 else { close(fd); return nil }
    var ss = sockaddr_storage()
    var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
    _ = withUnsafeMutablePointer(to: &ss) { getsockname(fd, UnsafeMutableRawPointer($0).assumingMemoryBound(to: sockaddr.self), &len) }
    let port = withUnsafeBytes(of: ss) { b in Int(b[2]) << 8 | Int(b[3]) }   // sin_port / sin6_port, network order
    return (fd, port)
}

/// Waits for and accepts one connection, non-blocking.
@KernelActor func acceptOne(_ l: Int32) async throws -> Int32 {
    while true {
        let c = accept(l, nil, nil)
        if c >= 0 {
            _ = fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK)
            return c
        }
        try await readable(l)
    }
}

/// Accepts one connection and echoes it until the peer closes.
@KernelActor func echoOnce(_ l: Int32) async throws {
    let c = try await acceptOne(l)
    defer { closeDescriptor(c) }
    var buf = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = buf.withUnsafeMutableBytes { recv(c, $0.baseAddress, $0.count, 0) }
        if n == 0 { return }
        if n < 0 { try await readable(c); continue }
        var off = 0
        while off < n {
            let w = buf.withUnsafeBytes { send(c, $0.baseAddress! + off, n - off, Int32(MSG_NOSIGNAL)) }
            if w > 0 { off += w } else { try await writable(c) }
        }
    }
}

@Suite struct NetworkTests {
    @Test(arguments: [("127.0.0.1", AF_INET), ("localhost", AF_INET), ("::1", AF_INET6)])
    func connectsAndCarriesBytesBothWays(_ host: String, _ family: Int32) throws {
        guard let (l, port) = listener(family) else {
            #expect(family == AF_INET6, "no IPv4 loopback listener")   // a machine without IPv6 skips ::1
            return
        }
        defer { close(l) }
        var x: UInt64 = 1
        let payload = (0..<300_000).map { _ in x = x &* 6364136223846793005 &+ 1; return UInt8(x >> 56) }
        let (endpoint, back) = try kernelTest { () async throws -> (String, [UInt8]) in
            let server = spawn("echo") { try await echoOnce(l) }
            let c = try await LinuxNetwork().connect(host: host, port: port, timeoutMilliseconds: 2000)
            let reader = spawn("reader") { () async throws -> [UInt8] in
                let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 8192, alignment: 1)
                defer { buf.deallocate() }
                var got: [UInt8] = []
                while true {
                    let n = try await c.read(into: buf)
                    if n == 0 { return got }
                    got += buf[0..<n]
                    if got.count == payload.count { return got }
                }
            }
            try await c.write(payload)
            let got = try await reader.value
            c.close()
            try await server.value
            return (c.endpoint, got)
        }
        #expect(endpoint == (family == AF_INET6 ? "[::1]:\(port)" : "\(host):\(port)"))
        #expect(back == payload)
    }

    @Test func refusedAndUnknownEndpointsAreNamed() throws {
        // A port nobody listens on: bind one, note it, close it.
        let (l, port) = try #require(listener(AF_INET))
        close(l)
        let message = try kernelTest { () async -> String in
            do { _ = try await LinuxNetwork().connect(host: "127.0.0.1", port: port, timeoutMilliseconds: 2000); return "connected" } catch { return "\(error)" }
        }
        #expect(message == "connect to 127.0.0.1:\(port) failed: connection refused")
    }

    @Test func aPeerThatClosesReadsAsEndOfStream() throws {
        let (l, port) = try #require(listener(AF_INET))
        defer { close(l) }
        let n = try kernelTest { () async throws -> Int in
            let server = spawn("closer") { () async throws -> Void in
                close(try await acceptOne(l))
            }
            let conn = try await LinuxNetwork().connect(host: "127.0.0.1", port: port, timeoutMilliseconds: 2000)
            try await server.value
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
            defer { buf.deallocate() }
            let n = try await conn.read(into: buf)
            conn.close()
            return n
        }
        #expect(n == 0)
    }

    /// A read that returned less than it asked for makes the next one wait for readiness
    /// first (no read bound to say EAGAIN): data that came in between, data that comes while
    /// it waits, and the peer's close must all still be seen.
    @Test func afterAShortReadNothingThatArrivesIsMissed() throws {
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        let rd = fds[0], wr = fds[1]
        let reads = try kernelTest(virtual: false) { () async throws -> [Int] in
            let conn = TCPConnection(fd: rd, endpoint: "peer")
            defer { conn.close() }
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { buf.deallocate() }
            var reads: [Int] = []
            #expect(send(wr, [UInt8](repeating: 1, count: 10), 10, 0) == 10)
            reads.append(try await conn.read(into: buf))   // short: the socket is empty now
            #expect(send(wr, [UInt8](repeating: 2, count: 5), 5, 0) == 5)   // before the next read
            reads.append(try await withTimeout(ms: 2000) { try await conn.read(into: buf) })
            let late = spawn("late") {
                try await sleep(ms: 20)
                #expect(send(wr, [UInt8](repeating: 3, count: 7), 7, 0) == 7)   // while it waits
                try await sleep(ms: 20)
                close(wr)
            }
            reads.append(try await withTimeout(ms: 2000) { try await conn.read(into: buf) })
            reads.append(try await withTimeout(ms: 2000) { try await conn.read(into: buf) })   // end of stream
            try await late.value
            return reads
        }
        #expect(reads == [10, 5, 7, 0])
    }

    /// 16.9: a reader whose descriptor always has data never waited, so it held the kernel for
    /// as long as the flood lasted. Now it gives way after each 64 KiB share: with 176 KiB
    /// already waiting (read without a single EAGAIN), another task gets at least two turns.
    @Test func aReaderUnderAFloodGivesWayToTheOtherTasks() throws {
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        defer { close(fds[1]) }
        let chunk = [UInt8](repeating: 0x24, count: 4096)
        var filled = 0
        while filled < 176 * 1024 {
            let n = send(fds[1], chunk, chunk.count, Int32(MSG_NOSIGNAL))
            try #require(n > 0, "the socket took only \(filled) bytes")
            filled += n
        }
        let rd = fds[0], total = filled
        let (turns, read) = try kernelTest(virtual: false) { () async throws -> (Int, Int) in
            var turns = 0
            let other = spawn("other") { while true { turns += 1; try await yield() } }
            let conn = TCPConnection(fd: rd, endpoint: "flood")
            defer { conn.close() }
            let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
            defer { buf.deallocate() }
            var read = 0
            let before = turns
            while read < total { read += try await conn.read(into: buf) }
            other.cancel()
            return (turns - before, read)
        }
        #expect(read == filled)
        #expect(turns >= 2, "the other task ran \(turns) times while \(read) bytes were read")
    }
}
