# Firmloop — the README's two commands (`make run`, `make test`) and the benchmarks.
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Each target installs what it needs on a fresh Debian 12 / Raspberry Pi OS machine.

SWIFT      ?= swift
# make hil ARCH=arm64: the HIL suite in an aarch64 VM on the cross-built firmware.
ARCH       ?= amd64
# Tests run on a release build: the allocation and speed properties they check are release ones.
TESTFLAGS  := -c release -Xswiftc -enable-testing
BENCH_PY   := .build/bench-venv/bin/python3
SHIM       := .build/alloccount.so

.PHONY: run test test-example test-home-assistant test-gpiod-v2 test-nonsending-park hil bench deps bench-deps clean fuzz soak sanitize sanitize-address sanitize-thread \
        buildinfo build-static build-arm64 test-arm64 install uninstall test-install deploy-test deb test-deb
PREFIX     ?= /usr/local
# The binary `make install` puts on a board: release, with Swift's standard library linked in,
# so it needs no Swift toolchain at run time and survives toolchain upgrades (and the VMs boot it).
STATIC_BIN := .build-static/release/firmloop
ARM64_BIN  := .build-arm64/aarch64-unknown-linux-gnu/release/firmloop
DEB_DIR    := .build/deb

## make run: the firmware on the simulated board in real time, publishing to a mosquitto on
## 127.0.0.1:1883 (started when none is there); Ctrl-C stops. RUNARGS go to `firmloop run`.
run: deps buildinfo
	$(SWIFT) build -c release --product firmloop
	scripts/run.sh $(RUNARGS)

## make test: every test, release build; the firmware against a real Home Assistant (make
## test-home-assistant); the fuzz seed corpus replayed; the short forms of
## the fuzzing (one minute) and the soak (10 broker + 10 firmware kills); the suite under
## ASan+LSan and under TSan (FIRMLOOP_SANITIZE=0 skips them); the aarch64
## build under qemu-user (make test-arm64; FIRMLOOP_ARM64=0 skips it); the .deb for both
## architectures under lintian (make test-deb); then the hardware-in-loop
## suite in an x86_64 VM and in an aarch64 VM, and the deploy VM, when this machine can have
## their prerequisites (x86_64, apt, root), else each says why it skipped (FIRMLOOP_HIL=0 skips them).
test: deps buildinfo
	$(SWIFT) build $(TESTFLAGS) --build-tests
	$(SWIFT) test $(TESTFLAGS) --skip-build
	$(MAKE) --no-print-directory test-example
	$(MAKE) --no-print-directory test-home-assistant
	$(MAKE) --no-print-directory test-gpiod-v2
	$(MAKE) --no-print-directory test-install
	$(MAKE) --no-print-directory test-nonsending-park
	scripts/test-arm64.sh --if-possible
	$(MAKE) --no-print-directory test-deb
	.build/release/firmloop-fuzz mqtt fuzz/corpus/mqtt/*
	.build/release/firmloop-fuzz nmea fuzz/corpus/nmea/*
	.build/release/firmloop-fuzz json fuzz/corpus/json/*
	.build/release/firmloop-fuzz command fuzz/corpus/command/*
	FUZZ_SECONDS=15 SWIFT=$(SWIFT) fuzz/run.sh
	python3 soak/soak.py --firmloop .build/release/firmloop --broker-kills 10 --firmware-kills 10 --stops 2 --stop-seconds 5
	@if [ "$${FIRMLOOP_SANITIZE:-1}" = 0 ]; then echo "sanitizers: SKIPPED (FIRMLOOP_SANITIZE=0)"; else $(MAKE) --no-print-directory sanitize; fi
	SWIFT=$(SWIFT) hil/hil.sh --if-possible
	HIL_ARCH=arm64 SWIFT=$(SWIFT) hil/hil.sh --if-possible
	SWIFT=$(SWIFT) deploy/vm/test.sh --if-possible

## make test-example: Examples/custom-sensor (your own firmware in your own package: the stock
## components plus a temperature probe and its command) built, simulated for 24 h with the
## invariants and its scenario, and run for a few seconds against mosquitto on 127.0.0.1.
test-example: deps
	SWIFT=$(SWIFT) python3 Examples/custom-sensor/test.py

## make test-home-assistant: the firmware against a real Home Assistant, the newest release pip
## installs on the newest Python here (cached in ~/.cache/firmloop/home-assistant), with a
## mosquitto on 127.0.0.1: onboarding and the MQTT integration through its APIs, then its device
## and entity registries, the relay driven from it, a fault, a removed role, both discovery
## forms, a clean stop (Tests/HomeAssistant/ha_test.py). Skips, saying why, with no Python 3.12+.
test-home-assistant: deps
	$(SWIFT) build $(TESTFLAGS) --product firmloop
	Tests/HomeAssistant/run.sh

## make test-nonsending-park: bench/nonsending-park, the stand-alone stress for the kernel's
## nonisolated(nonsending) park (its README): fails if a resumed job is ever lost.
test-nonsending-park: deps
	SWIFT=$(SWIFT) bench/nonsending-park/run.sh

## make build-arm64: the static firmware for aarch64 (64-bit Raspberry Pi OS, bookworm or
## trixie), cross-built here with Debian's Swift 6.2.3 and a bookworm arm64 sysroot, all from
## Debian's archive, cached in ~/.cache/firmloop-arm64 (scripts/arm64-sdk.sh; needs root).
build-arm64: deps
	scripts/build-arm64.sh

## make test-arm64: the aarch64 build under qemu-user: the same 24 h simulated day as x86_64,
## digest for digest, and the nonsending-park stress on the aarch64 runtime (scripts/test-arm64.sh).
test-arm64: deps buildinfo
	$(SWIFT) build $(TESTFLAGS) --product firmloop
	scripts/test-arm64.sh

## make test-gpiod-v2: the LinuxBoard tests and the CLI's commands (their GPIO errors) again on
## the libgpiod v2 backend, against a static
## libgpiod v2 built from PyPI's gpiod sources (scripts/libgpiod-v2.sh, cached), in .build-gpiod2.
## On a machine whose libgpiod-dev is already v2 (Debian 13), the main build is the v2 one.
test-gpiod-v2: deps
	PKG_CONFIG_PATH=$$(scripts/libgpiod-v2.sh) $(SWIFT) build $(TESTFLAGS) --build-tests --scratch-path .build-gpiod2
	PKG_CONFIG_PATH=$$(scripts/libgpiod-v2.sh) $(SWIFT) test $(TESTFLAGS) --skip-build --scratch-path .build-gpiod2 --filter 'LinuxBoardTests|CommandTests'

## make fuzz: libFuzzer + ASan, 10 million executions per target (fuzz/README.md).
fuzz: deps
	SWIFT=$(SWIFT) fuzz/run.sh

## make soak: 100 broker kills, 100 firmware kills, two 20 s broker stops (soak/README.md).
soak: deps
	$(SWIFT) build $(TESTFLAGS) --product firmloop
	python3 soak/soak.py --firmloop .build/release/firmloop

## make sanitize: the whole suite under AddressSanitizer (+ LeakSanitizer), then under
## ThreadSanitizer, each in its own build folder (make test runs both). Nothing suppressed for
## TSan: the locks where threads meet are Kernel.ThreadMutex, which it sees (README, "Sanitizers").
sanitize: sanitize-address sanitize-thread
sanitize-address: deps
	$(SWIFT) build $(TESTFLAGS) --build-tests --sanitize=address --scratch-path .build-asan
	ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$(CURDIR)/Tests/lsan.supp $(SWIFT) test $(TESTFLAGS) --skip-build --sanitize=address --scratch-path .build-asan
sanitize-thread: deps
	$(SWIFT) build $(TESTFLAGS) --build-tests --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) test $(TESTFLAGS) --skip-build --sanitize=thread --scratch-path .build-tsan

## make buildinfo: stamps the version `firmloop --version` prints (git describe; rewritten only
## when it changes, so it costs no rebuild).
buildinfo:
	@scripts/buildinfo.sh $(SWIFT)

## make build-static: the release binary with Swift's stdlib linked in (install, HIL, deploy VM).
build-static: deps buildinfo
	$(SWIFT) build -c release --static-swift-stdlib --product firmloop --scratch-path .build-static

## make install / make uninstall (PREFIX=/usr/local, DESTDIR= honoured): the binary, the systemd
## unit, the firmloop user (gpio, dialout), board files, a sample /etc/firmloop/firmloop.json
## (never overwritten). Uninstall keeps the config, the outbox and the user (deploy/install.sh).
## `sudo` drops the toolchain from PATH: then `make build-static` first as yourself, and
## `sudo make install` installs that build.
install: $(if $(shell command -v $(SWIFT) 2>/dev/null),build-static)
	@[ -x $(STATIC_BIN) ] || { echo "no $(STATIC_BIN) and no $(SWIFT) on PATH to build it: run 'make build-static' first (sudo drops swift from PATH)"; exit 1; }
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) deploy/install.sh install $(STATIC_BIN)
uninstall:
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) deploy/install.sh uninstall

## make test-install: install into a staging folder, systemd-analyze verify the unit, uninstall.
test-install: build-static
	@command -v systemd-analyze >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd; }
	deploy/test-install.sh $(STATIC_BIN)

## make deb (ARCH=amd64, or arm64 with the cross build): firmloop_<version>_<arch>.deb in
## .build/deb, made with dpkg-deb from the static binary (stripped; its debug info beside it)
## with the unit, user, udev rule, board files and the config as a conffile (deploy/deb/).
deb: deps buildinfo
ifeq ($(ARCH),arm64)
	scripts/build-arm64.sh >/dev/null
	deploy/deb/build.sh arm64 $(ARM64_BIN) $(DEB_DIR)
else
	$(SWIFT) build -c release --static-swift-stdlib --product firmloop --scratch-path .build-static
	deploy/deb/build.sh amd64 $(STATIC_BIN) $(DEB_DIR)
endif

## make test-deb: the amd64 package (and the arm64 one when the cross build is there) built,
## its contents, version and maintainer scripts checked, and lintian (installed if missing)
## finding no error and no warning (deploy/deb/test.sh).
test-deb: build-static
	@command -v lintian >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends lintian; }
	deploy/deb/test.sh $(STATIC_BIN) $(ARM64_BIN)

## make deploy-test: the .deb in a VM that boots real systemd (deploy/vm/README.md): apt install,
## kill -9, watchdog, stop, journal priorities, reboot, a damaged outbox, upgrade, remove and
## purge. Fails where the VM cannot be had.
deploy-test: deps
	SWIFT=$(SWIFT) deploy/vm/test.sh

## make hil: the hardware-in-loop suite alone (hil/README.md); fails where it cannot run.
## ARCH=arm64: in the aarch64 VM, on the cross-built firmware (make build-arm64).
hil: deps buildinfo
	HIL_ARCH=$(ARCH) SWIFT=$(SWIFT) hil/hil.sh

## make bench: release build, our benchmarks and the peers' (CPython asyncio, uvloop) side by side.
bench: deps bench-deps $(SHIM)
	$(SWIFT) build -c release --static-swift-stdlib --product firmloop-bench --scratch-path .build-static
	$(SWIFT) build -c release --static-swift-stdlib --product firmloop --scratch-path .build-static
	bench/run.sh

deps:
	@command -v $(SWIFT) >/dev/null || { echo "swift is not on PATH: install the Swift 6 toolchain (swift.org/install/linux)"; exit 1; }
	@missing=""; for p in gcc make python3 pkg-config; do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	pkg-config --exists libgpiod 2>/dev/null || missing="$$missing libgpiod"; \
	pkg-config --exists sqlite3 2>/dev/null || missing="$$missing sqlite3"; \
	pkg-config --exists openssl 2>/dev/null || missing="$$missing libssl-dev"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	for p in /usr/sbin/mosquitto /usr/bin/mosquitto_sub; do [ -x $$p ] || missing="$$missing $$(basename $$p)"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    build-essential python3 python3-venv pkg-config libgpiod-dev libsqlite3-dev libssl-dev openssl mosquitto mosquitto-clients; fi

# uvloop, paho-mqtt and pynmea2 from PyPI into a private venv (Debian's python refuses system-wide pip installs).
bench-deps: $(BENCH_PY)
	@$(BENCH_PY) -c 'import uvloop, paho.mqtt, pynmea2' 2>/dev/null || $(BENCH_PY) -m pip install -q uvloop paho-mqtt pynmea2
$(BENCH_PY):
	@python3 -m venv --help >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv; }
	python3 -m venv .build/bench-venv

# The counting allocator as an LD_PRELOAD shim, for the Python peers' malloc counts.
$(SHIM): Sources/CAllocCount/alloccount.c Sources/CAllocCount/include/alloccount.h
	mkdir -p .build
	cc -O2 -shared -fPIC -ISources/CAllocCount/include -o $@ $<

## make clean: every build folder (the main one, each configuration's .build-*, the example's)
## and the stamped version; caches in ~/.cache (VM images, the aarch64 SDK) stay.
clean:
	rm -rf .build .build-* Examples/*/.build Sources/CBuildInfo/generated
