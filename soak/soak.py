#!/usr/bin/env python3
"""make soak: the firmware against a hostile field, in one run (soak/README.md).

A real mosquitto with persistence on 127.0.0.1 is killed (SIGKILL) and restarted BROKER_KILLS
times at random and SIGSTOPped STOPS times for STOP_SECONDS; the firmware (`firmloop run` on the
simulated board, a snapshot every 50 ms, so a kill often lands mid-write) is killed with SIGKILL
FIRMWARE_KILLS times and restarted on the same outbox. An independent subscriber (mosquitto_sub,
QoS 1, persistent session) records everything. At the end the firmware drains its outbox and
stops cleanly, and the soak checks:

  - every sequence number from 1 to the last stored arrived at least once: contiguous;
  - a number that arrived twice carried the same bytes both times (a re-send, never two
    snapshots given one number);
  - after every kill the outbox opened and passed SQLite's integrity check;
  - the clean stop exited 0;
and reports the run time, the firmware's peak RSS, duplicates and reconnects.

Only 127.0.0.1 is used. Exit status 0 when every check held.
"""
import argparse
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--firmloop", required=True)
ap.add_argument("--board", default="boards/sim.json")
ap.add_argument("--broker-kills", type=int, default=100)
ap.add_argument("--firmware-kills", type=int, default=100)
ap.add_argument("--stops", type=int, default=2)
ap.add_argument("--stop-seconds", type=float, default=20)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--keep", action="store_true", help="keep the work directory")
args = ap.parse_args()

rng = random.Random(args.seed)
work = tempfile.mkdtemp(prefix="firmloop-soak-")
os.chmod(work, 0o777)  # mosquitto drops root for its own user and saves its database here
outbox = os.path.join(work, "outbox.db")
t0 = time.monotonic()


def say(msg):
    print(f"soak [{time.monotonic() - t0:7.1f} s] {msg}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


port = free_port()
# The project's one mosquitto start-up; saved after every change, so a SIGKILL loses as little
# as mosquitto can.
broker_command = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", "mosquitto.sh"), work, str(port),
                  "--persistent", "autosave_interval 1\nautosave_on_changes true\nlog_type error\nlog_type warning"]
broker_log = open(os.path.join(work, "mosquitto.log"), "ab")
fw_log = open(os.path.join(work, "firmware.log"), "ab")
procs = {}


def start_broker():
    procs["broker"] = subprocess.Popen(broker_command, stdout=broker_log, stderr=broker_log)
    deadline = time.monotonic() + 10
    while not listening(port):
        if time.monotonic() > deadline:
            sys.exit("soak: mosquitto did not start")
        time.sleep(0.02)


def start_firmware():
    procs["firmware"] = subprocess.Popen(
        [args.firmloop, "run", "--board", args.board, "--broker", f"mqtt://127.0.0.1:{port}", "--device-id", "soak",
         "--snapshot-interval", "50", "--outbox", outbox],
        stdout=fw_log, stderr=fw_log, stdin=subprocess.DEVNULL)


def peak_rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def outbox_state():
    """Opens the outbox as a restart would: (integrity, next_seq, pending)."""
    db = sqlite3.connect(outbox, timeout=10)
    try:
        ok = db.execute("PRAGMA integrity_check").fetchone()[0]
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        # Pending: the rows above the removal watermark (rows at or below it are delivered,
        # waiting to be collected a batch at a time, see Firmware/Outbox.swift).
        pending = db.execute("SELECT count(*) FROM outbox WHERE seq > ?", (meta.get("removed_through", 0),)).fetchone()[0]
        return ok, meta.get("next_seq", 1), pending
    finally:
        db.close()


def received():
    """seq -> list of payloads, from the subscriber's file."""
    seen = {}
    with open(sub_out, "rb") as f:
        for line in f:
            topic, _, payload = line.rstrip(b"\n").partition(b" ")
            i = payload.find(b'"seq":')
            if topic != b"firmloop/soak/snapshot" or i < 0:
                continue
            j = i + 6
            k = j
            while k < len(payload) and payload[k:k + 1].isdigit():
                k += 1
            seen.setdefault(int(payload[j:k]), []).append(payload)
    return seen


start_broker()
sub_out = os.path.join(work, "subscriber.out")
sub = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-c", "-i", "soak-checker", "-q", "1",
                        "-t", "firmloop/soak/snapshot", "-v"], stdout=open(sub_out, "wb"), stderr=subprocess.DEVNULL)
time.sleep(1)  # subscribed (its persistent session then holds what arrives while it reconnects)
start_firmware()

events = ["broker"] * args.broker_kills + ["firmware"] * args.firmware_kills + ["stop"] * args.stops
rng.shuffle(events)
say(f"port {port}, work {work}: {args.broker_kills} broker kills, {args.firmware_kills} firmware kills, "
    f"{args.stops} stops of {args.stop_seconds:g} s, seed {args.seed}")
rss = 0
opened = 0
failures = []
for n, ev in enumerate(events, 1):
    time.sleep(rng.uniform(0.2, 1.5))
    if ev == "broker":
        procs["broker"].send_signal(signal.SIGKILL)
        procs["broker"].wait()
        time.sleep(rng.uniform(0.05, 2.0))
        start_broker()
    elif ev == "firmware":
        fw = procs["firmware"]
        rss = max(rss, peak_rss_kb(fw.pid))
        fw.send_signal(signal.SIGKILL)
        fw.wait()
        try:
            ok, next_seq, pending = outbox_state()
            if ok != "ok":
                failures.append(f"after kill {n}: integrity check says {ok}")
            opened += 1
        except sqlite3.Error as e:
            failures.append(f"after kill {n}: the outbox did not open: {e}")
        start_firmware()
    else:
        procs["broker"].send_signal(signal.SIGSTOP)
        say(f"event {n}: broker stopped for {args.stop_seconds:g} s")
        time.sleep(args.stop_seconds)
        procs["broker"].send_signal(signal.SIGCONT)
    if n % 20 == 0:
        say(f"{n}/{len(events)} events")
    if procs["firmware"].poll() is not None:
        failures.append(f"the firmware exited by itself with {procs['firmware'].returncode} (event {n})")
        start_firmware()

# Let it drain: everything stored reaches the broker and the subscriber.
say("events done; waiting for the outbox to drain")
deadline = time.monotonic() + 180
while True:
    rss = max(rss, peak_rss_kb(procs["firmware"].pid))
    ok, next_seq, pending = outbox_state()
    last = next_seq - 1
    seen = received()
    if pending == 0 and all(s in seen for s in range(1, last + 1)):
        break
    if time.monotonic() > deadline:
        break
    time.sleep(0.5)
fw = procs["firmware"]
fw.send_signal(signal.SIGTERM)
status = fw.wait(timeout=30)
if status != 0:
    failures.append(f"the clean stop exited {status}")
time.sleep(1)
ok, next_seq, pending = outbox_state()
last = next_seq - 1
seen = received()
missing = [s for s in range(1, last + 1) if s not in seen]
dups = sum(len(v) - 1 for v in seen.values())
differ = [s for s, v in seen.items() if any(p != v[0] for p in v)]
beyond = [s for s in seen if s > last]
if missing:
    failures.append(f"{len(missing)} numbers never arrived: {missing[:20]}")
if differ:
    failures.append(f"{len(differ)} numbers arrived with different contents (a reused number): {differ[:20]}")
if beyond:
    failures.append(f"numbers beyond the last stored ({last}) arrived: {beyond[:20]}")
for p in (sub, procs["broker"]):
    p.terminate()
    p.wait()
with open(os.path.join(work, "firmware.log"), "rb") as f:
    log = f.read().decode(errors="replace")
took = time.monotonic() - t0
say(f"stored 1..{last}, all arrived: {not missing}; {dups} duplicates (re-sends, identical bytes: {not differ}); "
    f"outbox opened and whole after {opened} of {args.firmware_kills} kills; {args.firmware_kills + 1} firmware starts")
say(f"mqtt: {log.count('mqtt: online')} connects, {log.count('mqtt: offline')} disconnects logged; "
    f"firmware peak RSS {rss / 1024:.1f} MiB; run time {took:.0f} s")
if failures:
    for f_ in failures:
        print("soak: FAILED: " + f_)
    print(f"soak: work directory kept: {work}")
    sys.exit(1)
print(f"soak: PASSED ({args.broker_kills} broker kills, {args.firmware_kills} firmware kills, {args.stops} stops, {took:.0f} s)")
if not args.keep:
    subprocess.run(["rm", "-rf", work])
