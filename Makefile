# Firmloop — the README's two commands (`make run`, `make test`) and the benchmarks.
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Each target installs what it needs on a fresh Debian 12 / Raspberry Pi OS machine.

SWIFT      ?= swift
# Tests run on a release build: the allocation and speed properties they check are release ones.
TESTFLAGS  := -c release -Xswiftc -enable-testing
BENCH_PY   := .build/bench-venv/bin/python3
SHIM       := .build/alloccount.so

.PHONY: run test hil bench deps bench-deps clean

## make run: the firmware on the simulated board in real time, publishing to a mosquitto on
## 127.0.0.1:1883 (started when none is there); Ctrl-C stops. RUNARGS go to `firmloop run`.
run: deps
	$(SWIFT) build -c release --product firmloop
	scripts/run.sh $(RUNARGS)

## make test: every test, release build; then the hardware-in-loop suite in a VM when this
## machine can have its prerequisites (x86_64, apt, root or password-less sudo), else it
## says why it skipped (FIRMLOOP_HIL=0 skips it on purpose).
test: deps
	$(SWIFT) build $(TESTFLAGS) --build-tests
	$(SWIFT) test $(TESTFLAGS) --skip-build
	SWIFT=$(SWIFT) hil/hil.sh --if-possible

## make hil: the hardware-in-loop suite alone (hil/README.md); fails where it cannot run.
hil: deps
	SWIFT=$(SWIFT) hil/hil.sh

## make bench: release build, our benchmarks and the peers' (CPython asyncio, uvloop) side by side.
bench: deps bench-deps $(SHIM)
	$(SWIFT) build -c release --product firmloop-bench
	bench/run.sh

deps:
	@command -v $(SWIFT) >/dev/null || { echo "swift is not on PATH: install the Swift 6 toolchain (swift.org/install/linux)"; exit 1; }
	@missing=""; for p in gcc make python3 pkg-config; do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	pkg-config --exists libgpiod 2>/dev/null || missing="$$missing libgpiod"; \
	pkg-config --exists sqlite3 2>/dev/null || missing="$$missing sqlite3"; \
	for p in /usr/sbin/mosquitto /usr/bin/mosquitto_sub; do [ -x $$p ] || missing="$$missing $$(basename $$p)"; done; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    build-essential python3 python3-venv pkg-config libgpiod-dev libsqlite3-dev mosquitto mosquitto-clients; fi

# uvloop and paho-mqtt from PyPI into a private venv (Debian's python refuses system-wide pip installs).
bench-deps: $(BENCH_PY)
	@$(BENCH_PY) -c 'import uvloop, paho.mqtt' 2>/dev/null || $(BENCH_PY) -m pip install -q uvloop paho-mqtt
$(BENCH_PY):
	@python3 -m venv --help >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv; }
	python3 -m venv .build/bench-venv

# The counting allocator as an LD_PRELOAD shim, for the Python peers' malloc counts.
$(SHIM): Sources/CAllocCount/alloccount.c Sources/CAllocCount/include/alloccount.h
	mkdir -p .build
	cc -O2 -shared -fPIC -ISources/CAllocCount/include -o $@ $<

clean:
	rm -rf .build
