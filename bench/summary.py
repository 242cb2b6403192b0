#!/usr/bin/env python3
"""Ratios of firmloop to its peers from bench/run.sh's JSON lines, and the kernel issue's floors."""
import json, sys

import statistics

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
by = {}
for r in rows:
    by.setdefault((r["bench"], r.get("tasks"), r["impl"]), []).append(r)


def get(bench, tasks, impl, field):
    """Median over the rounds."""
    vs = [r[field] for r in by.get((bench, tasks, impl), []) if r.get(field) is not None]
    return statistics.median(vs) if vs else None


def ratio(bench, tasks, peer, field):
    """Median over the rounds of peer/firmloop, each round's pair measured seconds apart."""
    ours = {r.get("round", 1): r.get(field) for r in by.get((bench, tasks, "firmloop"), [])}
    rs = [r[field] / ours[r.get("round", 1)] for r in by.get((bench, tasks, peer), [])
          if r.get(field) and ours.get(r.get("round", 1))]
    return statistics.median(rs) if rs else None


print("\nsummary (medians over rounds; ratio = median of per-round peer/firmloop; > 1: firmloop is faster)")
checks = []
for bench, tasks, field in [("yield", 1, "ns_per_op"), ("yield", 100, "ns_per_op"), ("yield", 10000, "ns_per_op"),
                            ("spawn", 1, "ns_per_op"), ("fd_pingpong", 2, "ns_per_op"),
                            ("sleep_lateness", 1, "p99_us"), ("parked_task", 10000, "malloc_bytes_per_task")]:
    ours = get(bench, tasks, "firmloop", field)
    for peer in ("cpython-asyncio", "uvloop"):
        theirs = get(bench, tasks, peer, field)
        r = ratio(bench, tasks, peer, field)
        if ours and theirs and r:
            print(f"  {bench:15} tasks={tasks:<6} {field:22} firmloop {ours:>10} {peer:16} {theirs:>10}  ratio {r:6.2f}x")


def floor(name, ok, detail):
    checks.append(ok)
    print(f"  [{'ok' if ok else 'MISSED'}] {name}: {detail}")


print("\nfloors (kernel issue)")
rc, ru = ratio("yield", 100, "cpython-asyncio", "ns_per_op"), ratio("yield", 100, "uvloop", "ns_per_op")
if rc: floor("yield@100 >= 4x CPython", rc >= 4, f"{rc:.2f}x (goal 10x)")
if ru: floor("yield@100 >= 2x uvloop", ru >= 2, f"{ru:.2f}x (goal 5x)")
rf = ratio("fd_pingpong", 2, "cpython-asyncio", "ns_per_op")
if rf: floor("fd ping-pong >= 10x CPython", rf >= 10, f"{rf:.2f}x")
m = [get("yield", t, "firmloop", "mallocs_per_op") for t in (1, 100, 10000)] + [get("fd_pingpong", 2, "firmloop", "mallocs_per_op")]
if None not in m: floor("0 mallocs per yield and fd wake", all(x == 0 for x in m), f"{m}")
t = [r.get("threads") for r in rows if r["impl"] == "firmloop" and "threads" in r]
if t: floor("one thread", max(t) == 1, f"max threads {max(t)}")
p = get("sleep_lateness", 1, "firmloop", "p99_us")
if p is not None: floor("sleep(10 ms) p99 lateness <= 150 us", p <= 150, f"{p} us (goal 100 us)")
v = get("virtual_24h", 3, "firmloop", "wall_ms")
if v is not None: print(f"  virtual time: 24 h of three 1 s tickers in {v} ms ({86_400_000 / v:,.0f}x real time)")
s = get("sim_24h", None, "firmloop", "wall_ms")
if s is not None:
    print("\nfloors (board-layer issue)")
    floor("simulated board >= 10,000x real time (24 h in <= 8.64 s)", 86_400_000 / s >= 10_000,
          f"24 h of boards/sim.json in {s} ms ({86_400_000 / s:,.0f}x real time)")
f = get("sim_24h_firmware", None, "firmloop", "wall_ms")
if f is not None:
    print(f"  the firmware on it (firmloop simulate): 24 h in {f} ms ({86_400_000 / f:,.0f}x real time)")
for name in ("nmea_log", "nmea_mix"):
    ours, theirs = get(name, None, "firmloop", "mb_per_s"), get(name, None, "pynmea2", "mb_per_s")
    if ours is not None:
        ratio_text = f", {ours / theirs:.1f}x pynmea2 ({theirs} MB/s)" if theirs else ""
        print(f"  {name}: firmloop {ours} MB/s{ratio_text}; goal 200 MB/s and 15x; mallocs {get(name, None, 'firmloop', 'mallocs')}")
ours, paho = get("mqtt_drain", None, "firmloop", "msgs_per_s"), get("mqtt_drain", None, "paho-mqtt", "msgs_per_s")
if ours is not None:
    print("\nfloors (firmware issue)")
    r = ratio("mqtt_drain", None, "paho-mqtt", "msgs_per_s")
    r = 1 / r if r else None   # higher is better here
    print(f"  mqtt_drain 100,000 QoS 1 to loopback mosquitto: firmloop {ours:,.0f} msgs/s, paho-mqtt {paho or 0:,.0f} msgs/s"
          + (f", ratio {r:.2f}x (goal 5x)" if r else ""))
    floor("drain >= 5,000 msgs/s", ours >= 5000, f"{ours:,.0f} msgs/s")
    rss = get("mqtt_drain", None, "firmloop", "rss_mb")
    floor("RSS while draining <= 16 MB (goal)", rss <= 16, f"{rss} MB")
    m = get("mqtt_drain", None, "firmloop", "kernel_mallocs_per_msg")
    print(f"  kernel-thread mallocs per drained message: {m}")
ours, paho = get("mqtt_drain_tls", None, "firmloop", "msgs_per_s"), get("mqtt_drain_tls", None, "paho-mqtt", "msgs_per_s")
if ours is not None:
    r = ratio("mqtt_drain_tls", None, "paho-mqtt", "msgs_per_s")
    r = 1 / r if r else None
    print(f"  mqtt_drain over TLS (issue 14): firmloop {ours:,.0f} msgs/s, paho-mqtt over TLS {paho or 0:,.0f} msgs/s"
          + (f", ratio {r:.2f}x" if r else "") + f"; kernel-thread mallocs per message {get('mqtt_drain_tls', None, 'firmloop', 'kernel_mallocs_per_msg')}"
          + f", RSS {get('mqtt_drain_tls', None, 'firmloop', 'rss_mb')} MB (paho {get('mqtt_drain_tls', None, 'paho-mqtt', 'rss_mb')} MB)")
c = get("snapshot_cycle", None, "firmloop", "kernel_mallocs_per_cycle")
if c is not None:
    print(f"  kernel-thread mallocs per snapshot cycle (sample, JSON, store, publish, ack, remove): {c}; RSS {get('snapshot_cycle', None, 'firmloop', 'rss_mb')} MB")
print(f"\n{sum(checks)} of {len(checks)} floors met")


def per_round(bench, tasks, peer, field, higher_is_better=False):
    """Each round's peer/firmloop (firmloop/peer when higher is better): > 1, firmloop is ahead."""
    ours = {r.get("round", 1): r.get(field) for r in by.get((bench, tasks, "firmloop"), [])}
    out = []
    for r in by.get((bench, tasks, peer), []):
        a, b = ours.get(r.get("round", 1)), r.get(field)
        if a and b:
            out.append(a / b if higher_is_better else b / a)
    return out


goals = []


def goal(name, ok, detail):
    """One row of the performance issue's table: None when a figure is missing from this run."""
    goals.append(ok)
    mark = "not measured" if ok is None else ("met" if ok else "MISSED")
    print(f"  [{mark}] {name}: {detail}")


def fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


print("\ngoals (performance issue: every row, ours and the peers' from this run)")
rc, ru = ratio("yield", 100, "cpython-asyncio", "ns_per_op"), ratio("yield", 100, "uvloop", "ns_per_op")
goal("yield at 100 tasks >= 10x CPython asyncio, >= 5x uvloop", None if rc is None or ru is None else rc >= 10 and ru >= 5,
     f"{fmt(get('yield', 100, 'firmloop', 'ns_per_op'))} ns; {fmt(rc)}x CPython, {fmt(ru)}x uvloop")
sc, sm = ratio("spawn", 1, "cpython-asyncio", "ns_per_op"), get("spawn", 1, "firmloop", "mallocs_per_op")
goal("spawn + run + finish >= 5x CPython, <= 2 mallocs", None if sc is None or sm is None else sc >= 5 and sm <= 2,
     f"{fmt(get('spawn', 1, 'firmloop', 'ns_per_op'))} ns; {fmt(sc)}x CPython, {fmt(ratio('spawn', 1, 'uvloop', 'ns_per_op'))}x uvloop; {sm} mallocs")
# Issue 28: the same rows on the runtime's floor (bench/Sources/firmloop-bench/Floor.swift): a bare
# continuation and a bare task on a minimal serial executor, no kernel code, same binary and round.
def over_floor(bench, tasks):
    """Median over the rounds of firmloop/floor for one row (1.0: the kernel adds nothing)."""
    fl = {r.get("round", 1): r.get("ns_per_op") for r in by.get(("floor_" + bench, tasks, "swift-runtime"), [])}
    rs = [r["ns_per_op"] / fl[r.get("round", 1)] for r in by.get((bench, tasks, "firmloop"), [])
          if r.get("ns_per_op") and fl.get(r.get("round", 1))]
    return statistics.median(rs) if rs else None


for t in (1, 100, 10000):
    fy = get("floor_yield", t, "swift-runtime", "ns_per_op")
    if fy is not None:
        print(f"  (the floor: a bare continuation at {t} tasks {fy} ns, {get('floor_yield', t, 'swift-runtime', 'mallocs_per_op')} mallocs;"
              f" yield is {fmt(over_floor('yield', t))}x it)")
yf, sf = over_floor("yield", 100), over_floor("spawn", 1)
goal("yield at 100 tasks within 1.25x of the runtime's floor (a bare continuation on a minimal executor)",
     None if yf is None else yf <= 1.25, f"{fmt(get('yield', 100, 'firmloop', 'ns_per_op'))} ns against {get('floor_yield', 100, 'swift-runtime', 'ns_per_op')} ns: {fmt(yf)}x")
goal("spawn within 1.5x of the runtime's floor (a bare task created and joined)",
     None if sf is None else sf <= 1.5,
     f"{fmt(get('spawn', 1, 'firmloop', 'ns_per_op'))} ns, {get('spawn', 1, 'firmloop', 'mallocs_per_op')} mallocs against "
     f"{get('floor_spawn', 1, 'swift-runtime', 'ns_per_op')} ns, {get('floor_spawn', 1, 'swift-runtime', 'mallocs_per_op')} mallocs: {fmt(sf)}x")
pb, pr = get("parked_task", 10000, "firmloop", "malloc_bytes_per_task"), get("parked_task", 10000, "firmloop", "rss_bytes_per_task")
goal("memory per parked task <= 1 KB", None if pb is None else pb <= 1024 and (pr or 0) <= 1024,
     f"{pb} B malloc'd, {pr} B RSS; CPython asyncio {get('parked_task', 10000, 'cpython-asyncio', 'rss_bytes_per_task')} B RSS")
lp, lu = get("sleep_lateness", 1, "firmloop", "p99_us"), get("sleep_lateness", 1, "uvloop", "p99_us")
llp, llu = get("sleep_lateness", 101, "firmloop", "p99_us"), get("sleep_lateness", 101, "uvloop", "p99_us")
goal("sleep(10 ms) lateness p99 <= 100 us, and below uvloop's under load",
     None if lp is None or llp is None or llu is None else lp <= 100 and llp < llu,
     f"idle {lp} us at {get('sleep_lateness', 1, 'firmloop', 'cpu_pct')}% CPU (uvloop {lu} at {get('sleep_lateness', 1, 'uvloop', 'cpu_pct')}%, CPython {get('sleep_lateness', 1, 'cpython-asyncio', 'p99_us')}); "
     f"under load (100 tasks yielding) {llp} us, uvloop {llu} us, CPython {get('sleep_lateness', 101, 'cpython-asyncio', 'p99_us')} us")
rf = ratio("fd_pingpong", 2, "cpython-asyncio", "ns_per_op")
goal("fd ping-pong >= 20x CPython", None if rf is None else rf >= 20,
     f"{fmt(get('fd_pingpong', 2, 'firmloop', 'ns_per_op'))} ns; {fmt(rf)}x CPython, {fmt(ratio('fd_pingpong', 2, 'uvloop', 'ns_per_op'))}x uvloop")
for name in ("nmea_log", "nmea_mix"):
    ours, theirs = get(name, None, "firmloop", "mb_per_s"), get(name, None, "pynmea2", "mb_per_s")
    goal(f"NMEA framing + parsing ({name}) >= 200 MB/s and >= 15x pynmea2",
         None if ours is None or theirs is None else ours >= 200 and ours / theirs >= 15,
         f"{ours} MB/s; pynmea2 {theirs} MB/s, {fmt(ours / theirs if ours and theirs else None, '.1f')}x")
f = get("sim_24h_firmware", None, "firmloop", "wall_ms")
goal("24 h of the stock firmware in firmloop simulate <= 3 s", None if f is None else f <= 3000,
     f"{f} ms ({fmt(86_400_000 / f if f else None, ',.0f')}x real time); the bare simulated board {get('sim_24h', None, 'firmloop', 'wall_ms')} ms")
bare = get("sim_24h", None, "firmloop", "wall_ms")
goal("the stock firmware's simulated day within 1.5x of the bare board's (same run)",
     None if f is None or not bare else f / bare <= 1.5, f"{fmt(f / bare if f and bare else None)}x")
paho = per_round("mqtt_drain", None, "paho-mqtt", "msgs_per_s", higher_is_better=True)
pub = per_round("mqtt_drain", None, "mosquitto_pub", "msgs_per_s", higher_is_better=True)
goal("MQTT QoS 1 drain >= 5x paho-mqtt in every round, >= 1.2x mosquitto_pub",
     None if not paho or not pub else min(paho) >= 5 and statistics.median(pub) >= 1.2,
     f"{fmt(get('mqtt_drain', None, 'firmloop', 'msgs_per_s'), ',.0f')} msgs/s; paho {fmt(get('mqtt_drain', None, 'paho-mqtt', 'msgs_per_s'), ',.0f')} "
     f"(rounds {', '.join(fmt(x) for x in paho)}x), mosquitto_pub {fmt(get('mqtt_drain', None, 'mosquitto_pub', 'msgs_per_s'), ',.0f')} "
     f"(median {fmt(statistics.median(pub) if pub else None)}x)")
tls = per_round("mqtt_drain_tls", None, "mosquitto_pub", "msgs_per_s", higher_is_better=True)
if tls:
    print(f"  (over TLS: mosquitto_pub {fmt(get('mqtt_drain_tls', None, 'mosquitto_pub', 'msgs_per_s'), ',.0f')} msgs/s, firmloop {fmt(statistics.median(tls))}x)")
# Issue 28: the whole firmware beside the Python firmware a Pi user would write instead.
side = [r for r in rows if r["bench"] == "fw_side_by_side"]
if side:
    print("\nthe firmware beside the Python firmware (bench/peers/python-firmware), same inputs, same run")
    print(f"  {'baud':>6} {'every':>6}  {'CPU s/h ours':>12} {'Python':>7} {'ratio':>6}  {'RSS MB ours':>11} {'Python':>7} {'ratio':>6}"
          f"  {'p99 ms ours':>11} {'Python':>7}  {'first snapshot s':>16}")
    cpu_ok, mem_ok, lat_ok = [], [], []
    for baud in sorted({r["baud"] for r in side}):
        for every in sorted({r["interval_ms"] for r in side}):
            o = [r for r in side if r["baud"] == baud and r["interval_ms"] == every and r["impl"] == "firmloop"]
            t = [r for r in side if r["baud"] == baud and r["interval_ms"] == every and r["impl"] == "python-firmware"]
            if not o or not t:
                continue
            o, t = o[-1], t[-1]
            cr = t["cpu_s_per_hour"] / o["cpu_s_per_hour"] if o["cpu_s_per_hour"] else None
            mr = t["rss_steady_kb"] / o["rss_steady_kb"] if o["rss_steady_kb"] else None
            cpu_ok.append(cr is not None and cr >= 10)
            mem_ok.append(mr is not None and mr >= 4)
            lat_ok.append(o["latency_ms_p99"] is not None and t["latency_ms_p99"] is not None and o["latency_ms_p99"] < t["latency_ms_p99"])
            print(f"  {baud:>6} {every:>4}ms  {o['cpu_s_per_hour']:>12} {t['cpu_s_per_hour']:>7} {fmt(cr, '.1f'):>5}x  {o['rss_steady_kb'] / 1024:>11.1f}"
                  f" {t['rss_steady_kb'] / 1024:>7.1f} {fmt(mr, '.1f'):>5}x  {o['latency_ms_p99']:>11} {t['latency_ms_p99']:>7}"
                  f"  {o['first_snapshot_s']:>7} / {t['first_snapshot_s']}")
    goal("the firmware: >= 10x less CPU than the Python firmware in every configuration", all(cpu_ok) if cpu_ok else None, f"{sum(cpu_ok)} of {len(cpu_ok)}")
    goal("the firmware: >= 4x less memory (steady RSS) than the Python firmware", all(mem_ok) if mem_ok else None, f"{sum(mem_ok)} of {len(mem_ok)}")
    # What the RSS is made of: pages of files (code, shared with the page cache and, for the
    # libraries, with every process using them; dropped under pressure) and private dirty pages
    # (the heap, stacks and written data: what a process costs a board with no swap).
    for baud in sorted({r["baud"] for r in side}):
        for every in sorted({r["interval_ms"] for r in side}):
            o = [r for r in side if r["baud"] == baud and r["interval_ms"] == every and r["impl"] == "firmloop" and r.get("private_dirty_kb")]
            t = [r for r in side if r["baud"] == baud and r["interval_ms"] == every and r["impl"] == "python-firmware" and r.get("private_dirty_kb")]
            if o and t:
                o, t = o[-1], t[-1]
                print(f"  {baud:>6} {every:>4}ms  private dirty MB ours {o['private_dirty_kb'] / 1024:.1f}, Python {t['private_dirty_kb'] / 1024:.1f}"
                      f" ({t['private_dirty_kb'] / o['private_dirty_kb']:.1f}x); PSS {o['pss_kb'] / 1024:.1f} / {t['pss_kb'] / 1024:.1f}"
                      f"; the rest of the RSS is file pages (code, libraries)")
    goal("the firmware: lower p99 latency than the Python firmware", all(lat_ok) if lat_ok else None, f"{sum(lat_ok)} of {len(lat_ok)}")
for r in rows:
    if r["bench"] == "fw_drain":
        print(f"  drain of a 10-minute backlog ({r['backlog']} snapshots): {r['impl']} {r['drain_s']} s ({r['per_s']}/s)")

# Issue 28: the binary an update ships.
for r in rows:
    if r["bench"] == "binary_size":
        goal(f"the stripped release binary ({r['arch']}) <= 10 MB, no Foundation", r["stripped_bytes"] <= 10_000_000 and r["foundation_symbols"] == 0,
             f"{r['stripped_bytes']:,} bytes stripped ({r['unstripped_bytes']:,} with its debug info); Foundation/_StringProcessing symbols: {r['foundation_symbols']}")

measured = [g for g in goals if g is not None]
print(f"\n{sum(measured)} of {len(goals)} goals met ({len(goals) - len(measured)} not measured in this run)")
