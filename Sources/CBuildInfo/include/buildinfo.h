#ifndef FIRMLOOP_BUILDINFO_H
#define FIRMLOOP_BUILDINFO_H

/// The version this binary was built from: `git describe` at build time ("v0.3-12-gabc1234",
/// "-dirty" when the tree had changes), or "unknown" when it was built without `make`.
const char *firmloop_build_version(void);
/// The Swift compiler that built it ("Swift version 6.3.1 (swift-6.3.1-RELEASE)"), or "".
const char *firmloop_build_swift(void);

#endif
