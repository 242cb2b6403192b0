// The libgpiod v2 backend (libgpiod 2.x: Debian 13 / Raspberry Pi OS trixie). Every v2 call
// lives in this file, and only calls that libgpiod 2.1 has; GPIOD.swift is the same
// `GPIOChip` and `GPIORequest` on the v1 API. Package.swift builds the one matching the
// libgpiod pkg-config finds.
//
// Debounce stays in software on the kernel's clock (Board/Debounce.swift), as with v1: v2's
// `gpiod_line_settings_set_debounce_period_us` is honoured only by drivers that support it (the
// Pi's RP1 and gpio-sim do not all do; where they do not, the request still succeeds and the
// bounce gets through), so one software mechanism behaves the same on every chip and backend.

#if FIRMLOOP_GPIOD_V2
import Board
import CGPIOD
import Glibc

/// An open GPIO chip.
public final class GPIOChip {
    let chip: OpaquePointer
    public let name: String
    public let label: String
    public let lineCount: Int

    init?(path: String) {
        guard let c = gpiod_chip_open(path) else { return nil }
        guard let info = gpiod_chip_get_info(c) else {
            gpiod_chip_close(c)
            return nil
        }
        defer { gpiod_chip_info_free(info) }
        chip = c
        name = String(cString: gpiod_chip_info_get_name(info))
        label = String(cString: gpiod_chip_info_get_label(info))
        lineCount = Int(gpiod_chip_info_get_num_lines(info))
    }

    deinit { gpiod_chip_close(chip) }

    /// The backend and the library's version, as `firmloop --version` and `probe` print them.
    public static var backend: String { "libgpiod v2 (\(String(cString: gpiod_api_version())))" }

    /// Every chip on the machine (/dev/gpiochip*, in number order). v2 has no chip iterator.
    public static func all() -> [GPIOChip] {
        let names = directoryEntries("/dev").filter { $0.hasPrefix("gpiochip") }
            .sorted { (Int($0.dropFirst(8)) ?? 0) < (Int($1.dropFirst(8)) ?? 0) }
        return names.compactMap { n in
            let path = "/dev/" + n
            return gpiod_is_gpiochip_device(path) ? GPIOChip(path: path) : nil
        }
    }

    public func info() -> GPIOChipInfo {
        GPIOChipInfo(name: name, label: label, lines: (0..<lineCount).compactMap(lineInfo))
    }

    /// Line `offset` as the chip reports it now (a snapshot: v2 line info is not live).
    func lineInfo(_ offset: Int) -> GPIOLineInfo? {
        guard let l = gpiod_chip_get_line_info(chip, UInt32(offset)) else { return nil }
        defer { gpiod_line_info_free(l) }
        return GPIOLineInfo(
            offset: offset,
            name: gpiod_line_info_get_name(l).map { String(cString: $0) },
            consumer: gpiod_line_info_get_consumer(l).map { String(cString: $0) },
            isOutput: gpiod_line_info_get_direction(l) == GPIOD_LINE_DIRECTION_OUTPUT,
            isUsed: gpiod_line_info_is_used(l),
            activeLow: gpiod_line_info_is_active_low(l))
    }

    /// Requests line `offset` as `consumer`: an output with its initial value, or an input with
    /// both edges' events (their fd joins the kernel's epoll set).
    public func request(offset: Int, output: Bool, initial: Bool, activeLow: Bool, bias: Bias,
                        consumer: String, what: String, role: String) throws -> GPIORequest {
        func fail(_ call: String) -> BoardError { .system(call: call, errno: errno, what: what) }
        guard let settings = gpiod_line_settings_new() else { throw fail("gpiod_line_settings_new") }
        defer { gpiod_line_settings_free(settings) }
        _ = gpiod_line_settings_set_direction(settings, output ? GPIOD_LINE_DIRECTION_OUTPUT : GPIOD_LINE_DIRECTION_INPUT)
        gpiod_line_settings_set_active_low(settings, activeLow)
        let b: gpiod_line_bias
        switch bias {
        case .pullUp: b = GPIOD_LINE_BIAS_PULL_UP
        case .pullDown: b = GPIOD_LINE_BIAS_PULL_DOWN
        case .disabled: b = GPIOD_LINE_BIAS_DISABLED
        case .asIs: b = GPIOD_LINE_BIAS_AS_IS
        }
        if gpiod_line_settings_set_bias(settings, b) != 0 { throw fail("gpiod_line_settings_set_bias") }
        if output {
            _ = gpiod_line_settings_set_output_value(settings, initial ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE)
        } else {
            if gpiod_line_settings_set_edge_detection(settings, GPIOD_LINE_EDGE_BOTH) != 0 { throw fail("gpiod_line_settings_set_edge_detection") }
            _ = gpiod_line_settings_set_event_clock(settings, GPIOD_LINE_CLOCK_MONOTONIC)
        }
        guard let lineConfig = gpiod_line_config_new() else { throw fail("gpiod_line_config_new") }
        defer { gpiod_line_config_free(lineConfig) }
        var o = UInt32(offset)
        if gpiod_line_config_add_line_settings(lineConfig, &o, 1, settings) != 0 { throw fail("gpiod_line_config_add_line_settings") }
        guard let requestConfig = gpiod_request_config_new() else { throw fail("gpiod_request_config_new") }
        defer { gpiod_request_config_free(requestConfig) }
        gpiod_request_config_set_consumer(requestConfig, consumer)
        guard let r = gpiod_chip_request_lines(chip, requestConfig, lineConfig) else {
            let e = errno
            if e == EBUSY {
                throw BoardError.lineBusy(line: what, consumer: lineInfo(offset)?.consumer ?? "another program", role: role)
            }
            throw BoardError.system(call: "gpiod_chip_request_lines", errno: e, what: what)
        }
        return GPIORequest(request: r, offset: UInt32(offset), chip: self, what: what, events: !output)
    }
}

/// A requested line; released on `release()` or deinit (so no line stays busy after an error).
public final class GPIORequest {
    let request: OpaquePointer
    let offset: UInt32
    /// Keeps the chip open while requested (as v1 needs; harmless in v2).
    let chip: GPIOChip
    public let what: String
    /// The edge-event fd (inputs), non-blocking.
    public let eventFD: Int32
    private let buffer: OpaquePointer?
    private var released = false
    static let bufferSize = 16

    init(request: OpaquePointer, offset: UInt32, chip: GPIOChip, what: String, events: Bool) {
        self.request = request
        self.offset = offset
        self.chip = chip
        self.what = what
        if events {
            eventFD = nonBlocking(gpiod_line_request_get_fd(request))
            buffer = gpiod_edge_event_buffer_new(Self.bufferSize)
        } else {
            eventFD = -1
            buffer = nil
        }
    }

    deinit {
        release()
        if let buffer { gpiod_edge_event_buffer_free(buffer) }
    }

    public func release() {
        guard !released else { return }
        released = true
        gpiod_line_request_release(request)
    }

    public func get() throws -> Bool {
        let v = gpiod_line_request_get_value(request, offset)
        if v == GPIOD_LINE_VALUE_ERROR { throw BoardError.system(call: "gpiod_line_request_get_value", errno: errno, what: what) }
        return v == GPIOD_LINE_VALUE_ACTIVE
    }

    public func set(_ value: Bool) throws {
        if gpiod_line_request_set_value(request, offset, value ? GPIOD_LINE_VALUE_ACTIVE : GPIOD_LINE_VALUE_INACTIVE) != 0 {
            throw BoardError.system(call: "gpiod_line_request_set_value", errno: errno, what: what)
        }
    }

    /// Reads the edge events waiting on the fd (up to 16); empty when none (EAGAIN: the fd is
    /// non-blocking, so the read never waits).
    public func readEvents() throws -> [GPIOEvent] {
        guard let buffer else { return [] }
        let n = gpiod_line_request_read_edge_events(request, buffer, Self.bufferSize)
        if n < 0 {
            if errno == EAGAIN || errno == EINTR { return [] }
            throw BoardError.system(call: "gpiod_line_request_read_edge_events", errno: errno, what: what)
        }
        return (0..<Int(n)).compactMap { i in
            gpiod_edge_event_buffer_get_event(buffer, UInt(i)).map {
                Self.event(type: gpiod_edge_event_get_event_type($0), nanoseconds: gpiod_edge_event_get_timestamp_ns($0))
            }
        }
    }

    /// One v2 event as the board sees it.
    static func event(type: gpiod_edge_event_type, nanoseconds: UInt64) -> GPIOEvent {
        GPIOEvent(rising: type == GPIOD_EDGE_EVENT_RISING_EDGE, nanoseconds: Int64(truncatingIfNeeded: nanoseconds))
    }
}
#endif
