#!/usr/bin/env python3
"""The custom-sensor example, end to end (make test-example; part of make test):

1. builds the package (Firmloop by path: the stock components plus TemperatureProbe);
2. runs its firmware for 24 h of virtual time on the simulated board with the probe
   (`custom-sensor simulate`): every invariant of the stock firmware (no snapshot lost, the
   client's bound) must hold, and the scenario checks the probe's field in the snapshots and
   its command (refused when out of range; acked and applied when not);
3. runs it for a few seconds in real time against a real mosquitto on 127.0.0.1: the
   snapshots carry "probe_c" and the probe's counters, a probe_offset command is acked and
   changes the reading, the status line has the probe's part, and Home Assistant discovery
   announces the probe as a temperature sensor in °C.
"""
import json, os, re, shutil, socket, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
swift = os.environ.get("SWIFT", "swift")
# Debug: the example builds in ~20 s (release would rebuild all of Firmloop in minutes) and
# simulates its day in ~30 s.
config = os.environ.get("EXAMPLE_CONFIG", "debug")
board = os.path.join(here, "boards", "probe-sim.json")


def say(msg):
    print(f"custom-sensor: {msg}", flush=True)


def fail(msg):
    say(f"FAIL: {msg}")
    sys.exit(1)


say(f"building ({config})")
subprocess.run([swift, "build", "-c", config, "--package-path", here], check=True)
binary = os.path.join(here, ".build", config, "custom-sensor")

say("the probe scenario on the simulated board")
sim = subprocess.run([binary, "simulate", "--board", board, "--scenario", os.path.join(here, "boards", "scenarios", "probe.json")],
                     capture_output=True, text=True)
if sim.returncode != 0 or "scenario: passed" not in sim.stdout:
    print(sim.stdout[-3000:], sim.stderr[-3000:], sep="\n")
    fail(f"the probe scenario failed (exit {sim.returncode})")

say("24 h of virtual time: the stock firmware's invariants with the probe added")
sim = subprocess.run([binary, "simulate", "--board", board, "--duration", "24h"], capture_output=True, text=True)
print("\n".join(sim.stdout.splitlines()[-6:]))
if sim.returncode != 0 or "invariants held" not in sim.stdout or " 0 lost" not in sim.stdout:
    print(sim.stdout[-3000:], sim.stderr[-3000:], sep="\n")
    fail(f"the 24 h simulation failed its invariants (exit {sim.returncode})")
if "probe " not in sim.stdout:
    fail("no probe task ran in the simulation")

say("a few seconds in real time against mosquitto on 127.0.0.1")
work = tempfile.mkdtemp(prefix="firmloop-example-")
procs = []
try:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Firmloop's own mosquitto start-up (the example lives in its repository).
    procs.append(subprocess.Popen([os.path.join(here, "..", "..", "scripts", "mosquitto.sh"), work, str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        fail("mosquitto did not start")
    seen = open(os.path.join(work, "seen.txt"), "w+")
    procs.append(subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-v", "-t", "firmloop/example/#", "-t", "homeassistant/#"],
                                  stdout=seen, stderr=subprocess.STDOUT))
    time.sleep(0.3)
    fw = subprocess.Popen([binary, "run", "--board", board, "--broker", f"127.0.0.1:{port}", "--device-id", "example",
                           "--snapshot-interval", "500", "--outbox", os.path.join(work, "outbox.db"), "--duration", "6",
                           "--ha-discovery"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    procs.append(fw)
    time.sleep(3)
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-q", "1", "-t", "firmloop/example/cmd",
                    "-m", '{"id":"e1","probe_offset":-5,"snapshot":true}'], check=True)
    out, _ = fw.communicate(timeout=30)
    time.sleep(0.3)
    seen.seek(0)
    lines = seen.read().splitlines()
    if fw.returncode != 0:
        print(out)
        fail(f"custom-sensor run exited {fw.returncode}")
    readings = [float(m.group(1)) for l in lines if l.startswith("firmloop/example/snapshot ")
                for m in [re.search(r'"probe_c":(-?[0-9.]+)', l)] if m]
    acks = [l for l in lines if l.startswith("firmloop/example/ack ")]
    say(f"{len(readings)} snapshots with probe_c ({readings[:2]} ... {readings[-2:]}); acks: {acks}")
    if len(readings) < 3:
        fail("fewer than 3 snapshots carried probe_c")
    if not any('{"id":"e1","ok":true,"seq":' in a for a in acks):
        fail("the probe_offset command was not acked")
    if not (readings[0] - readings[-1] > 4):
        fail(f"the offset did not change the reading ({readings[0]} -> {readings[-1]})")
    counters = [l for l in lines if l.startswith("firmloop/example/snapshot ") and re.search(r'"probe":\{"reads":[1-9][0-9]*,"failures":0\}', l)]
    if not counters:
        fail("no snapshot carried the probe's counters")
    if not re.search(r"  probe -?[0-9.]+ C", out):
        print(out)
        fail("the status line has no probe part")
    device = [l for l in lines if l.startswith("homeassistant/device/example/config ")]
    cmps = json.loads(device[-1].split(" ", 1)[1]).get("cmps", {}) if device else {}
    probe = cmps.get("probe", {})
    if probe.get("p") != "sensor" or probe.get("unit_of_measurement") != "°C" or probe.get("value_template") != "{{ value_json.probe_c | default(None) }}":
        fail(f"Home Assistant discovery did not announce the probe: {probe or device}")
    if cmps.get("probe_problem", {}).get("device_class") != "problem":
        fail(f"Home Assistant discovery did not announce the probe's problem sensor: {sorted(cmps)}")
    say("PASS: its field and counters in every snapshot, its command acked and applied, its status part, its"
        " Home Assistant sensor, 24 h simulated with the invariants")
finally:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
    shutil.rmtree(work, ignore_errors=True)
