import Board
import Glibc
import Kernel

/// Everything observable that happened in a simulated world, in order: GPIO levels, UART bytes,
/// network events, broker traffic. Each event is folded into a running 64-bit digest (with its
/// virtual time and any bytes it carried), so two runs compare by one number without keeping
/// the log; an optional Chrome trace writer keeps it as a file for Perfetto.
///
/// The digest takes eight bytes per step (FNV-1a's multiply on a whole word, then the high half
/// folded into the low): a simulated day is about 4 million events, and FNV-1a byte by byte,
/// a chain of dependent multiplies, was 8% of it.
@KernelActor
public final class EventLog {
    public private(set) var count = 0
    private var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    public var trace: ChromeTrace?
    /// Called for every event (tests and scenario steps watch the log through it).
    public var observers: [(SimEvent) -> Void] = []

    public nonisolated init() {}

    /// The digest so far as 16 hex digits.
    public var digest: String {
        let h = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - h.count) + h
    }

    @inline(__always) private func mix(_ word: UInt64) {
        hash = (hash ^ word) &* 0x100_0000_01b3
        hash ^= hash >> 32
    }

    /// Bytes eight at a time, the last word padded with zeros, then the count (so "a" and "a\0"
    /// differ).
    @inline(__always) private func mix(_ bytes: UnsafeRawBufferPointer) {
        var i = 0
        while i + 8 <= bytes.count {
            mix(UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
            i += 8
        }
        var tail: UInt64 = 0, shift: UInt64 = 0
        while i < bytes.count { tail |= UInt64(bytes[i]) << shift; shift += 8; i += 1 }
        mix(tail)
        mix(UInt64(bytes.count))
    }

    public func record(_ kind: SimEvent.Kind, _ subject: String, value: Int64 = 0, bytes: [UInt8]? = nil) {
        if let bytes {
            bytes.withUnsafeBytes { record(kind, subject, value: value, rawBytes: $0) }
        } else {
            record(kind, subject, value: value, rawBytes: nil)
        }
    }

    /// The hot path (a UART chunk, a network segment): hashes the bytes where they are and
    /// copies them only for a trace or an observer.
    public func record(_ kind: SimEvent.Kind, _ subject: String, value: Int64 = 0, rawBytes: UnsafeRawBufferPointer?) {
        count += 1
        let now = Kernel.now
        mix(UInt64(bitPattern: now))
        mix(UInt64(kind.code))
        var s = subject
        s.withUTF8 { mix(UnsafeRawBufferPointer($0)) }
        mix(UInt64(bitPattern: value))
        if let b = rawBytes { mix(b) } else { mix(UInt64.max) }
        if trace != nil || !observers.isEmpty {
            let e = SimEvent(time: now, kind: kind, subject: subject, value: value, bytes: rawBytes.map { Array($0) })
            trace?.event(e)
            for o in observers { o(e) }
        }
    }
}

public struct SimEvent: Sendable {
    public enum Kind: String, Sendable {
        /// value: the level (0/1) an output was set to / an input was driven to.
        case gpioOut = "gpio.out", gpioIn = "gpio.in"
        /// bytes: what the firmware read / wrote; value: bytes lost to a full buffer (rx).
        case uartRx = "uart.rx", uartTx = "uart.tx", uartOverrun = "uart.overrun"
        /// subject: "host:port#n"; value: bytes (send) or 0.
        case netConnect = "net.connect", netRefused = "net.refused", netTimeout = "net.timeout"
        case netSend = "net.send", netClose = "net.close", netReset = "net.reset"
        case netDown = "net.down", netUp = "net.up"
        /// subject: topic (publish) or client id; bytes: payload.
        case brokerConnect = "broker.connect", brokerDisconnect = "broker.disconnect"
        case brokerPublish = "broker.publish", brokerDrop = "broker.drop"
        /// Scenario steps as they start; subject: the step.
        case step = "scenario.step"
        /// value: a PWM output's duty in nanoseconds of its period.
        case pwmDuty = "pwm.duty"
        /// A transfer the firmware made to a simulated I2C device; value: its register (or
        /// -1), bytes: what was written or read. `i2cSilent`: the device did not answer.
        case i2cTransfer = "i2c.transfer", i2cSilent = "i2c.silent"

        /// The kind's number in the digest.
        var code: UInt8 {
            switch self {
            case .gpioOut: 1
            case .gpioIn: 2
            case .uartRx: 3
            case .uartTx: 4
            case .uartOverrun: 5
            case .netConnect: 6
            case .netRefused: 7
            case .netTimeout: 8
            case .netSend: 9
            case .netClose: 10
            case .netReset: 11
            case .netDown: 12
            case .netUp: 13
            case .brokerConnect: 14
            case .brokerDisconnect: 15
            case .brokerPublish: 16
            case .brokerDrop: 17
            case .step: 18
            case .pwmDuty: 19
            case .i2cTransfer: 20
            case .i2cSilent: 21
            }
        }
    }

    public var time: Int64
    public var kind: Kind
    public var subject: String
    public var value: Int64
    public var bytes: [UInt8]?
}
