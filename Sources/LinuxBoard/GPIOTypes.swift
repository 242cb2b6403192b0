// What both libgpiod backends (GPIOD.swift for v1, GPIOD2.swift for v2) hand the rest of
// LinuxBoard: plain values, no libgpiod types.

import Glibc

/// One line as the chip describes it (for lookups and `firmloop probe`).
public struct GPIOLineInfo: Sendable, Equatable {
    public var offset: Int
    public var name: String?
    public var consumer: String?
    public var isOutput: Bool
    public var isUsed: Bool
    public var activeLow: Bool
}

/// A chip: its name ("gpiochip0"), label ("pinctrl-rp1") and lines.
public struct GPIOChipInfo: Sendable, Equatable {
    public var name: String
    public var label: String
    public var lines: [GPIOLineInfo]
}

/// One edge as the kernel reported it (the type is the logical level after the edge).
public struct GPIOEvent: Sendable, Equatable {
    public var rising: Bool
    /// The event's timestamp in nanoseconds (CLOCK_MONOTONIC, the kernel clock's source).
    public var time: Int64
    public init(rising: Bool, nanoseconds: Int64) {
        self.rising = rising
        time = nanoseconds
    }
}

/// A request's edge-event fd made non-blocking (it joins the kernel's epoll set, and reads
/// must end in EAGAIN); -1 stays -1.
func nonBlocking(_ fd: Int32) -> Int32 {
    if fd >= 0 { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    return fd
}
