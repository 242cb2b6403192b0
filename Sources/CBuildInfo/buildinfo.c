// The build's version, stamped by the Makefile (scripts/buildinfo.sh writes generated/buildinfo.h
// only when it changes, so only this file recompiles). A plain `swift build` has no stamp.
#include "buildinfo.h"

#if defined(FIRMLOOP_CROSS_SDK) && __has_include("generated/buildinfo-cross.h")
#include "generated/buildinfo-cross.h"   // the aarch64 cross build (scripts/arm64-sdk.sh's SDK)
#elif __has_include("generated/buildinfo.h")
#include "generated/buildinfo.h"
#endif

#ifndef FIRMLOOP_VERSION
#define FIRMLOOP_VERSION "unknown (built without make)"
#endif
#ifndef FIRMLOOP_SWIFT
#define FIRMLOOP_SWIFT ""
#endif

const char *firmloop_build_version(void) { return FIRMLOOP_VERSION; }
const char *firmloop_build_swift(void) { return FIRMLOOP_SWIFT; }
