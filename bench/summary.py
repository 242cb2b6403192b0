#!/usr/bin/env python3
"""Ratios of firmloop to its peers from bench/run.sh's JSON lines, and the kernel issue's floors."""
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
by = {}
for r in rows:
    by[(r["bench"], r.get("tasks"), r["impl"])] = r


def get(bench, tasks, impl, field):
    r = by.get((bench, tasks, impl))
    return None if r is None else r.get(field)


print("\nsummary (peer / firmloop; > 1 means firmloop is faster)")
checks = []
for bench, tasks, field in [("yield", 1, "ns_per_op"), ("yield", 100, "ns_per_op"), ("yield", 10000, "ns_per_op"),
                            ("spawn", 1, "ns_per_op"), ("fd_pingpong", 2, "ns_per_op"),
                            ("sleep_lateness", 1, "p99_us"), ("parked_task", 10000, "malloc_bytes_per_task")]:
    ours = get(bench, tasks, "firmloop", field)
    for peer in ("cpython-asyncio", "uvloop"):
        theirs = get(bench, tasks, peer, field)
        if ours and theirs:
            print(f"  {bench:15} tasks={tasks:<6} {field:22} firmloop {ours:>10} {peer:16} {theirs:>10}  ratio {theirs / ours:6.2f}x")


def floor(name, ok, detail):
    checks.append(ok)
    print(f"  [{'ok' if ok else 'MISSED'}] {name}: {detail}")


print("\nfloors (kernel issue)")
y, yc, yu = (get("yield", 100, i, "ns_per_op") for i in ("firmloop", "cpython-asyncio", "uvloop"))
if y and yc: floor("yield@100 >= 4x CPython", yc / y >= 4, f"{yc / y:.2f}x (goal 10x)")
if y and yu: floor("yield@100 >= 2x uvloop", yu / y >= 2, f"{yu / y:.2f}x (goal 5x)")
f, fc = get("fd_pingpong", 2, "firmloop", "ns_per_op"), get("fd_pingpong", 2, "cpython-asyncio", "ns_per_op")
if f and fc: floor("fd ping-pong >= 10x CPython", fc / f >= 10, f"{fc / f:.2f}x")
m = [get("yield", t, "firmloop", "mallocs_per_op") for t in (1, 100)] + [get("fd_pingpong", 2, "firmloop", "mallocs_per_op")]
if None not in m: floor("0 mallocs per yield and fd wake", all(x == 0 for x in m), f"{m}")
t = [r.get("threads") for r in rows if r["impl"] == "firmloop" and "threads" in r]
if t: floor("one thread", max(t) == 1, f"max threads {max(t)}")
p = get("sleep_lateness", 1, "firmloop", "p99_us")
if p is not None: floor("sleep(10 ms) p99 lateness <= 150 us", p <= 150, f"{p} us (goal 100 us)")
v = get("virtual_24h", 3, "firmloop", "wall_ms")
if v is not None: print(f"  virtual time: 24 h of three 1 s tickers in {v} ms ({86_400_000 / v:,.0f}x real time)")
print(f"\n{sum(checks)} of {len(checks)} floors met")
