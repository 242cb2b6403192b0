// The libgpiod v1 backend (libgpiod 1.6: Debian 12 / Raspberry Pi OS bookworm). Every v1 call
// lives in this file; GPIOD2.swift is the same `GPIOChip` and `GPIORequest` on the v2 API.
// Package.swift builds the one matching the libgpiod pkg-config finds.

#if !FIRMLOOP_GPIOD_V2
import Board
import CGPIOD
import Glibc

/// An open GPIO chip.
public final class GPIOChip {
    let chip: OpaquePointer
    public let name: String
    public let label: String

    init(_ c: OpaquePointer) {
        chip = c
        name = String(cString: gpiod_chip_name(c))
        label = String(cString: gpiod_chip_label(c))
    }

    deinit { gpiod_chip_close(chip) }

    /// Every chip on the machine (/dev/gpiochip*), in order.
    public static func all() -> [GPIOChip] {
        guard let it = gpiod_chip_iter_new() else { return [] }
        defer { gpiod_chip_iter_free_noclose(it) }
        var out: [GPIOChip] = []
        while let c = gpiod_chip_iter_next_noclose(it) { out.append(GPIOChip(c)) }
        return out
    }

    /// The backend and the library's version, as `firmloop --version` and `probe` print them.
    public static var backend: String { "libgpiod v1 (\(String(cString: gpiod_version_string())))" }

    public var lineCount: Int { Int(gpiod_chip_num_lines(chip)) }

    public func info() -> GPIOChipInfo {
        var lines: [GPIOLineInfo] = []
        for o in 0..<lineCount {
            guard let l = gpiod_chip_get_line(chip, UInt32(o)) else { continue }
            lines.append(GPIOLineInfo(
                offset: o,
                name: gpiod_line_name(l).map { String(cString: $0) },
                consumer: gpiod_line_consumer(l).map { String(cString: $0) },
                isOutput: gpiod_line_direction(l) == Int32(GPIOD_LINE_DIRECTION_OUTPUT),
                isUsed: gpiod_line_is_used(l),
                activeLow: gpiod_line_active_state(l) == Int32(GPIOD_LINE_ACTIVE_STATE_LOW)))
        }
        return GPIOChipInfo(name: name, label: label, lines: lines)
    }

    /// Requests line `offset` as `consumer`: an output with its initial value, or an input with
    /// both edges' events (their fd joins the kernel's epoll set).
    public func request(offset: Int, output: Bool, initial: Bool, activeLow: Bool, bias: Bias,
                        consumer: String, what: String, role: String) throws -> GPIORequest {
        guard let l = gpiod_chip_get_line(chip, UInt32(offset)) else {
            throw BoardError.system(call: "gpiod_chip_get_line", errno: errno, what: what)
        }
        var flags: Int32 = activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
        switch bias {
        case .pullUp: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP)
        case .pullDown: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN)
        case .disabled: flags |= Int32(GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE)
        case .asIs: break
        }
        let r = output
            ? gpiod_line_request_output_flags(l, consumer, flags, initial ? 1 : 0)
            : gpiod_line_request_both_edges_events_flags(l, consumer, flags)
        if r != 0 {
            let e = errno
            if e == EBUSY {
                throw BoardError.lineBusy(line: what, consumer: gpiod_line_consumer(l).map { String(cString: $0) } ?? "another program", role: role)
            }
            throw BoardError.system(call: output ? "gpiod_line_request_output_flags" : "gpiod_line_request_both_edges_events_flags", errno: e, what: what)
        }
        return GPIORequest(line: l, chip: self, what: what, events: !output)
    }
}

/// A requested line; released on `release()` or deinit (so no line stays busy after an error).
public final class GPIORequest {
    let line: OpaquePointer
    /// Keeps the chip (and so the line) open while requested.
    let chip: GPIOChip
    public let what: String
    /// The edge-event fd (inputs), non-blocking.
    public let eventFD: Int32
    private var released = false

    init(line: OpaquePointer, chip: GPIOChip, what: String, events: Bool) {
        self.line = line
        self.chip = chip
        self.what = what
        if events {
            eventFD = nonBlocking(gpiod_line_event_get_fd(line))
        } else {
            eventFD = -1
        }
    }

    deinit { release() }

    public func release() {
        guard !released else { return }
        released = true
        gpiod_line_release(line)
    }

    public func get() throws -> Bool {
        let v = gpiod_line_get_value(line)
        if v < 0 { throw BoardError.system(call: "gpiod_line_get_value", errno: errno, what: what) }
        return v == 1
    }

    public func set(_ value: Bool) throws {
        if gpiod_line_set_value(line, value ? 1 : 0) != 0 {
            throw BoardError.system(call: "gpiod_line_set_value", errno: errno, what: what)
        }
    }

    /// Reads the edge events waiting on the fd (up to 16); empty when none (EAGAIN).
    public func readEvents() throws -> [GPIOEvent] {
        var buf = [gpiod_line_event](repeating: gpiod_line_event(), count: 16)
        let n = gpiod_line_event_read_fd_multiple(eventFD, &buf, 16)
        if n < 0 {
            if errno == EAGAIN || errno == EINTR { return [] }
            throw BoardError.system(call: "gpiod_line_event_read_fd_multiple", errno: errno, what: what)
        }
        return buf.prefix(Int(n)).map(Self.event)
    }

    /// One v1 event as the board sees it.
    static func event(_ e: gpiod_line_event) -> GPIOEvent {
        GPIOEvent(rising: e.event_type == Int32(GPIOD_LINE_EVENT_RISING_EDGE),
                  nanoseconds: Int64(e.ts.tv_sec) * 1_000_000_000 + Int64(e.ts.tv_nsec))
    }
}
#endif

