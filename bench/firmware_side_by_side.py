#!/usr/bin/env python3
"""Firmloop's firmware and the Python firmware a Pi user would write instead
(bench/peers/python-firmware), side by side in one run, on the same inputs (issue 28):

- NMEA from boards/nmea/neo-m8n.log into a pty at the line rate of 9600 and of 115200 baud
  (10 bits a byte, the log looped), a snapshot every 100 ms and every 2 s, the same mosquitto
  on 127.0.0.1;
- per configuration and implementation: CPU seconds per hour of running (utime + stime from
  /proc over a fixed window after a warm-up, scaled to an hour), peak and steady RSS (VmHWM,
  VmRSS at the window's end), snapshot latency p50/p99 (its own `time` to its arrival at an
  independent subscriber on loopback: taken to delivered, which on loopback is the PUBACK's
  moment within a few tens of µs), time from start to the first snapshot at the broker (and,
  for Firmloop, to its READY=1 on NOTIFY_SOCKET);
- the drain of a 10-minute backlog (6,000 snapshots: 10 min at 100 ms, made by running at
  10 ms with the broker down until 6,000 are stored, then SIGSTOP while the broker starts):
  from the first backlog snapshot at the subscriber to the last.

JSON lines on stdout, one per row: {"bench": "fw_side_by_side" | "fw_drain", "impl": ...}.
usage: firmware_side_by_side.py --firmloop BIN --python PY [--seconds 30]
"""
import argparse, json, os, re, shutil, signal, socket, sqlite3, subprocess, sys, tempfile, threading, time
from datetime import datetime

import paho.mqtt.client as mqtt

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LOG = open(os.path.join(ROOT, "boards", "nmea", "neo-m8n.log"), "rb").read().splitlines(keepends=True)
TICK = os.sysconf("SC_CLK_TCK")
# The subscriber here (Python) is slower than a drain: mosquitto must queue for it, not drop
# (its default keeps 1,000 per client), as bench/mosquitto.sh's brokers do.
QUEUE = "max_queued_messages 0"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mosquitto(script, folder, port):
    """scripts/mosquitto.sh on `port` (queueing for slow subscribers), once it accepts."""
    mq = subprocess.Popen([script, folder, str(port), QUEUE], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return mq
        except OSError:
            time.sleep(0.05)
    mq.terminate()
    raise SystemExit(f"mosquitto did not start on port {port}")


def cpu_seconds(pid):
    """CPU time of every thread of `pid`, in seconds, to the nanosecond: the first field of each
    /proc/PID/task/TID/schedstat. utime + stime from /proc/PID/stat count in clock ticks (10 ms
    here), which over a 30 s window is 1.2 s/h, more than the figure itself at 2 s snapshots.
    Both processes keep their threads for the whole window (our offload workers, paho's
    network thread), so no thread's time leaves with it. Falls back to the ticks."""
    try:
        total = 0
        for tid in os.listdir(f"/proc/{pid}/task"):
            total += int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / TICK


def memory_kb(pid):
    """VmHWM and VmRSS (every page mapped in: the program's code and its libraries' as much as
    its heap), and from smaps_rollup Private_Dirty (pages only this process holds and the kernel
    cannot drop: heap, stacks, written data) and Pss (shared pages divided among their users)."""
    s = open(f"/proc/{pid}/status").read()
    m = {k: int(re.search(rf"^{k}:\s+(\d+)", s, re.M).group(1)) for k in ("VmHWM", "VmRSS")}
    try:
        r = open(f"/proc/{pid}/smaps_rollup").read()
        for k in ("Private_Dirty", "Pss"):
            m[k] = int(re.search(rf"^{k}:\s+(\d+)", r, re.M).group(1))
    except (OSError, AttributeError):
        pass
    return m


class Feeder(threading.Thread):
    """The log into a pty's master at `baud`'s line rate, looped, until stopped."""

    def __init__(self, baud):
        super().__init__(daemon=True)
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.rate = baud / 10
        self.running = True

    def run(self):
        sent, start, i = 0, time.monotonic(), 0
        while self.running:
            line = LOG[i % len(LOG)]
            i += 1
            try:
                os.write(self.master, line)
            except OSError:
                return
            sent += len(line)
            ahead = sent / self.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)

    def stop(self):
        self.running = False


class Subscriber:
    """Every snapshot of `firmloop/<id>/snapshot`, its arrival time and its own `time`."""

    def __init__(self, port, device):
        self.arrivals = []   # (arrival wall time, taken wall time or None, seq)
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-sub-" + device)
        self.c.on_connect = lambda c, *a: c.subscribe(f"firmloop/{device}/snapshot", qos=1)
        self.c.on_message = self.message
        self.connected_port = port
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def message(self, c, userdata, m):
        now = time.time()
        taken, seq = None, None
        try:
            j = json.loads(m.payload)
            seq = j.get("seq")
            t = j.get("time")
            taken = t if isinstance(t, (int, float)) else datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
        except (ValueError, AttributeError, TypeError):
            pass
        self.arrivals.append((now, taken, seq))

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()


def start(impl, args, work, feeder, port, device, interval_ms, notify=None):
    outbox = os.path.join(work, f"{device}.outbox")
    if impl == "firmloop":
        board = os.path.join(work, f"{device}.json")
        json.dump({"board": "bench-pty", "roles": {"gps_uart": {"type": "serial", "device": feeder.path,
                                                                "settings": f"{args.baud_of[device]} 8N1"}}}, open(board, "w"))
        env = dict(os.environ, NOTIFY_SOCKET=notify) if notify else None
        cmd = [args.firmloop, "run", "--board", board, "--broker", f"mqtt://127.0.0.1:{port}", "--device-id", device,
               "--snapshot-interval", str(interval_ms), "--outbox", outbox, "--log-level", "warning"]
        return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cmd = [args.python, os.path.join(ROOT, "bench", "peers", "python-firmware", "firmware.py"), "--serial", feeder.path,
           "--baud", str(args.baud_of[device]), "--broker", f"127.0.0.1:{port}", "--device-id", device,
           "--interval", str(interval_ms / 1000), "--outbox", outbox]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def stop(p):
    p.send_signal(signal.SIGINT)
    try:
        out = p.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        p.kill()
        out = p.communicate()[0]
    return out


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p * len(xs)))], 3) if xs else None


def steady(impl, args, work, port, baud, interval_ms):
    device = f"{impl[:2]}-{baud}-{interval_ms}"
    args.baud_of[device] = baud
    feeder = Feeder(baud)
    feeder.start()
    sub = Subscriber(port, device)
    time.sleep(0.3)
    notify_path = os.path.join(work, device + ".notify")
    ready = []
    notify = None
    if impl == "firmloop":
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(notify_path)
        notify = notify_path
        def listen():
            while True:
                try:
                    data = ns.recv(4096)
                except OSError:
                    return
                if b"READY=1" in data and not ready:
                    ready.append(time.time())
        threading.Thread(target=listen, daemon=True).start()
    t0 = time.time()
    p = start(impl, args, work, feeder, port, device, interval_ms, notify)
    time.sleep(args.warmup)
    c0, w0 = cpu_seconds(p.pid), time.monotonic()
    time.sleep(args.seconds)
    c1, w1 = cpu_seconds(p.pid), time.monotonic()
    mem = memory_kb(p.pid)
    out = stop(p)
    feeder.stop()
    sub.stop()
    if notify:
        ns.close()
    arrivals = sub.arrivals
    lat = [(a - t) * 1000 for a, t, _ in arrivals if t is not None and a >= t0 + args.warmup]
    row = {"bench": "fw_side_by_side", "impl": "firmloop" if impl == "firmloop" else "python-firmware", "baud": baud,
           "interval_ms": interval_ms, "window_s": round(w1 - w0, 1), "cpu_s_per_hour": round((c1 - c0) / (w1 - w0) * 3600, 1),
           "rss_peak_kb": mem["VmHWM"], "rss_steady_kb": mem["VmRSS"],
           "private_dirty_kb": mem.get("Private_Dirty"), "pss_kb": mem.get("Pss"), "latency_ms_p50": pct(lat, 0.5), "latency_ms_p99": pct(lat, 0.99),
           "snapshots": len(arrivals), "first_snapshot_s": round(arrivals[0][0] - t0, 3) if arrivals else None}
    if ready:
        row["ready_s"] = round(ready[0] - t0, 3)
    if impl != "firmloop" and out.strip():
        try:
            r = json.loads(out.strip().splitlines()[-1])
            row["puback_ms_p50"], row["puback_ms_p99"] = r.get("puback_ms_p50"), r.get("puback_ms_p99")
        except ValueError:
            pass
    return row


def drain(impl, args, work, mosquitto):
    """6,000 snapshots stored with the broker down (10 ms apart: 10 minutes' worth at 100 ms),
    then the broker up: how long from the first backlog snapshot at the subscriber to the last."""
    port = free_port()
    device = f"{impl[:2]}-drain"
    args.baud_of[device] = 9600
    feeder = Feeder(9600)
    feeder.start()
    p = start(impl, args, work, feeder, port, device, 10)
    # Until 6,000 are stored (both outboxes are an sqlite `outbox` table; WAL lets us read),
    # then stopped: the backlog stays what it is while the broker starts.
    db = os.path.join(work, f"{device}.outbox")
    fill = time.time()
    while time.time() < fill + 300:
        time.sleep(0.5)
        try:
            n = sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        except sqlite3.Error:
            continue
        if n >= 6000:
            break
    p.send_signal(signal.SIGSTOP)
    fill = time.time() - fill
    first, last = sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("SELECT MIN(seq), MAX(seq) FROM outbox").fetchone()
    d = os.path.join(work, device + "-mq")
    os.makedirs(d)
    os.chmod(d, 0o777)
    mq = start_mosquitto(mosquitto, d, port)
    sub = Subscriber(port, device)
    time.sleep(0.5)
    p.send_signal(signal.SIGCONT)
    end = time.time() + 180
    while time.time() < end:   # until the backlog's last snapshot came (it keeps taking new ones at 10 ms)
        time.sleep(0.2)
        if any(x[2] == last for x in sub.arrivals):
            break
    stop(p)
    feeder.stop()
    sub.stop()
    mq.terminate()
    mq.wait()
    a = [x for x in sub.arrivals]
    backlog = [x for x in a if x[2] is not None and first <= x[2] <= last]
    backlog = backlog[:1] + [x for x in backlog if x[2] == last][:1] if backlog else []
    count = len({x[2] for x in a if x[2] is not None and first <= x[2] <= last})
    seconds = backlog[-1][0] - backlog[0][0] if len(backlog) > 1 else None
    return {"bench": "fw_drain", "impl": "firmloop" if impl == "firmloop" else "python-firmware", "backlog": last - first + 1,
            "arrived": count, "fill_s": round(fill, 1), "drain_s": round(seconds, 2) if seconds else None,
            "per_s": round(count / seconds) if seconds else None}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--firmloop", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_FW_SECONDS", 30)))
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--no-drain", action="store_true")
    args = ap.parse_args()
    args.baud_of = {}
    work = tempfile.mkdtemp(prefix="firmloop-fw-bench-")
    os.chmod(work, 0o777)
    mosquitto = os.path.join(ROOT, "scripts", "mosquitto.sh")
    port = free_port()
    mq = start_mosquitto(mosquitto, work, port)
    try:
        for baud in (9600, 115200):
            for interval_ms in (100, 2000):
                for impl in ("firmloop", "python"):
                    print(json.dumps(steady(impl, args, work, port, baud, interval_ms)), flush=True)
        if not args.no_drain:
            for impl in ("firmloop", "python"):
                print(json.dumps(drain(impl, args, work, mosquitto)), flush=True)
    finally:
        mq.terminate()
        mq.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
