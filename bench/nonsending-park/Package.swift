// swift-tools-version:6.0
// A stand-alone stress for the kernel's `nonisolated(nonsending)` park (README.md): no Firmloop
// code, only the shape of it: a serial executor draining a job queue on one thread, a global
// actor on it, tasks that park in a nonsending function and are woken by the loop.
import PackageDescription

let package = Package(
    name: "nonsending-park",
    targets: [.executableTarget(name: "nonsending-park")]
)
