// swift-tools-version:6.0
import PackageDescription

// Your own firmware in your own package: Firmloop's stock components plus one of yours (a
// temperature probe on a value role, and a command to calibrate it), with Firmloop's whole
// command line (run, simulate, probe, uart, config). Firmloop is a dependency by path here;
// yours would name its git URL.
let package = Package(
    name: "custom-sensor",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "firmloop", path: "../.."),
    ],
    targets: [
        .target(name: "CustomSensor", dependencies: [
            .product(name: "Kernel", package: "firmloop"),
            .product(name: "Board", package: "firmloop"),
            .product(name: "Firmware", package: "firmloop"),
        ]),
        .executableTarget(name: "custom-sensor", dependencies: [
            "CustomSensor",
            .product(name: "Firmware", package: "firmloop"),
            .product(name: "FirmloopCLI", package: "firmloop"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
