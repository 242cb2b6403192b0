// swift-tools-version:6.0
import PackageDescription

// Dynamic exclusivity checks on the kernel's hot loop cost ~10% per switch in the design spike
// (measured when the kernel was designed); the kernel alone drops them in release builds. Its tests and the
// allocation/speed benchmarks run on exactly that build.
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "firmloop",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Kernel", targets: ["Kernel"]),
        .library(name: "Board", targets: ["Board"]),
        .library(name: "SimBoard", targets: ["SimBoard"]),
        .executable(name: "firmloop", targets: ["firmloop"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CSystem"),
        .target(name: "Kernel", dependencies: ["CSystem"], exclude: ["Core/README.md"], swiftSettings: kernelSettings),
        .target(name: "Board", dependencies: ["Kernel"]),
        .target(name: "MQTT"),
        .target(name: "SimBoard", dependencies: ["Kernel", "Board", "MQTT"]),
        // SQLite 3 (Debian's libsqlite3-dev): the firmware's durable outbox.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "Firmware", dependencies: ["Kernel", "Board", "MQTT", "CSQLite"]),
        // The firmware on the simulated board, with its invariants (firmloop simulate, tests, bench).
        .target(name: "FirmwareSim", dependencies: ["Kernel", "Board", "MQTT", "SimBoard", "Firmware"]),
        // libgpiod v1.6 (Debian's libgpiod-dev; `make` installs it): used only by LinuxBoard/GPIOD.swift.
        .systemLibrary(name: "CGPIOD", pkgConfig: "libgpiod", providers: [.apt(["libgpiod-dev"])]),
        .target(name: "LinuxBoard", dependencies: ["Kernel", "Board", "CGPIOD"]),
        .executableTarget(name: "firmloop", dependencies: [
            "Kernel", "Board", "SimBoard", "LinuxBoard", "Firmware", "FirmwareSim", "MQTT",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Test and benchmark support only: replaces malloc process-wide to count calls.
        .target(name: "CAllocCount"),
        .executableTarget(name: "firmloop-bench", dependencies: ["Kernel", "CSystem", "CAllocCount", "Board", "SimBoard", "Firmware", "FirmwareSim", "LinuxBoard"],
                          path: "bench/Sources/firmloop-bench"),
        // Fuzz targets (fuzz/README.md): `make fuzz` builds them with libFuzzer; built plainly
        // they replay the seed corpus (`make test`). One executable, the target by name.
        .executableTarget(name: "firmloop-fuzz", dependencies: ["Board", "MQTT", "Firmware"], path: "fuzz/Sources/firmloop-fuzz",
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        // Tests: one target per module; they share the one-kernel-at-a-time turn in Tests/Support.
        .target(name: "KernelTestSupport", dependencies: ["Kernel", "CSystem"], path: "Tests/Support"),
        .testTarget(name: "KernelTests", dependencies: ["Kernel", "CSystem", "CAllocCount", "KernelTestSupport"], exclude: ["traces"]),
        .testTarget(name: "BoardTests", dependencies: ["Board", "Kernel", "KernelTestSupport"]),
        .testTarget(name: "MQTTTests", dependencies: ["MQTT"]),
        .testTarget(name: "LinuxBoardTests", dependencies: ["LinuxBoard", "Board", "Kernel", "CSystem", "KernelTestSupport"]),
        .testTarget(name: "FirmwareTests", dependencies: ["Firmware", "Board", "Kernel", "MQTT", "SimBoard", "LinuxBoard", "KernelTestSupport"]),
        .testTarget(name: "FirmwareSimTests", dependencies: ["FirmwareSim", "Firmware", "SimBoard", "Board", "Kernel", "MQTT", "KernelTestSupport"]),
        .testTarget(name: "SimBoardTests", dependencies: ["SimBoard", "Board", "Kernel", "MQTT", "Firmware", "KernelTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
