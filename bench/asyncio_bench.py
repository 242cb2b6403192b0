#!/usr/bin/env python3
"""The same benchmarks as firmloop-bench, for CPython asyncio and uvloop (the peers).

    python3 bench/asyncio_bench.py --impl cpython-asyncio|uvloop [--only yield,fd_pingpong]

Prints one JSON object per line in firmloop-bench's format. Each figure is the median of
several runs. mallocs_per_op comes from the same counting allocator as ours, preloaded:
LD_PRELOAD=.build/alloccount.so (bench/run.sh does it); without it the field is null.
"""
import argparse, asyncio, ctypes, json, os, socket, statistics, time

ap = argparse.ArgumentParser()
ap.add_argument("--impl", required=True, choices=["cpython-asyncio", "uvloop"])
ap.add_argument("--only", default="")
ap.add_argument("--repeats", type=int, default=5)
args = ap.parse_args()
ONLY = set(filter(None, args.only.split(",")))
IMPL = args.impl
if IMPL == "uvloop":
    import uvloop
    new_loop = uvloop.new_event_loop
else:
    new_loop = asyncio.new_event_loop

try:
    _lib = ctypes.CDLL(None)
    _calls = _lib.alloccount_calls
    _calls.restype = ctypes.c_uint64
    _bytes = _lib.alloccount_bytes
    _bytes.restype = ctypes.c_uint64
except (OSError, AttributeError):
    _calls = _bytes = None


def mallocs():
    return _calls() if _calls else 0


def run(coro):
    loop = new_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def emit(**kw):
    out = {"bench": kw.pop("bench"), "impl": IMPL}
    for k, v in kw.items():
        out[k] = round(v, 2) if isinstance(v, float) else v
    print(json.dumps(out, separators=(",", ":")), flush=True)


def measure(name, tasks, ops, body):
    ns, ms = [], []
    for _ in range(args.repeats):
        box = {}

        def start():
            box["m0"] = mallocs()
            box["t0"] = time.perf_counter_ns()

        def stop():
            box["t1"] = time.perf_counter_ns()
            box["m1"] = mallocs()

        run(body(start, stop))
        ns.append((box["t1"] - box["t0"]) / ops)
        ms.append((box["m1"] - box["m0"]) / ops)
    emit(bench=name, tasks=tasks, ns_per_op=statistics.median(ns),
         mallocs_per_op=statistics.median(ms) if _calls else None, threads=1)


def selected(name):
    return not ONLY or name in ONLY


if selected("yield"):
    for tasks in (1, 100, 10_000):
        per_task = max(20, 400_000 // tasks)   # fewer ops than ours: they are slower

        def body(start, stop, tasks=tasks, per_task=per_task):
            async def main():
                go = asyncio.Event()

                async def yielder():
                    await go.wait()
                    for _ in range(per_task):
                        await asyncio.sleep(0)

                ts = [asyncio.ensure_future(yielder()) for _ in range(tasks)]
                await asyncio.sleep(0)
                go.set()
                start()
                await asyncio.gather(*ts)
                stop()
            return main()

        measure("yield", tasks, tasks * per_task, body)

if selected("spawn"):
    def body(start, stop):
        async def main():
            async def child(i):
                return i
            start()
            for _ in range(40):
                ts = [asyncio.ensure_future(child(i)) for i in range(1000)]
                for t in ts:
                    await t
            stop()
        return main()
    measure("spawn", 1, 40_000, body)

if selected("fd_pingpong"):
    N = 20_000

    def body(start, stop):
        async def main():
            loop = asyncio.get_running_loop()
            a, b = socket.socketpair()
            a.setblocking(False)
            b.setblocking(False)

            async def echo():
                while True:
                    d = await loop.sock_recv(b, 1)
                    if not d:
                        return
                    await loop.sock_sendall(b, d)

            e = asyncio.ensure_future(echo())
            for _ in range(1000):
                await loop.sock_sendall(a, b"x")
                await loop.sock_recv(a, 1)
            start()
            for _ in range(N):
                await loop.sock_sendall(a, b"x")
                await loop.sock_recv(a, 1)
            stop()
            e.cancel()
            a.close()
            b.close()
        return main()
    measure("fd_pingpong", 2, N, body)

if selected("sleep_lateness"):
    p50, p99 = [], []
    for _ in range(1):   # 300 sleeps: p99 is the 3rd worst
        async def main():
            late = []
            c0, w0 = time.process_time(), time.monotonic()
            for _ in range(300):
                due = time.monotonic_ns() + 10_000_000
                await asyncio.sleep(0.010)
                late.append((time.monotonic_ns() - due) / 1000)
            return late, (time.process_time() - c0) / (time.monotonic() - w0) * 100
        late, cpu = run(main())
        late = sorted(late)
        p50.append(late[len(late) // 2])
        p99.append(late[min(len(late) - 1, round((len(late) - 1) * 0.99))])
    emit(bench="sleep_lateness", tasks=1, p50_us=statistics.median(p50), p99_us=statistics.median(p99), cpu_pct=round(cpu, 2))

    # Under load: the same sleeps while 100 other tasks yield without pause.
    async def loaded():
        stop = False
        async def busy():
            while not stop:
                await asyncio.sleep(0)
        ts = [asyncio.ensure_future(busy()) for _ in range(100)]
        late = []
        for _ in range(300):
            due = time.monotonic_ns() + 10_000_000
            await asyncio.sleep(0.010)
            late.append((time.monotonic_ns() - due) / 1000)
        stop = True
        await asyncio.gather(*ts)
        return late
    late = sorted(run(loaded()))
    emit(bench="sleep_lateness", tasks=101, p50_us=late[len(late) // 2], p99_us=late[min(len(late) - 1, round((len(late) - 1) * 0.99))])

if selected("idle_cpu"):
    async def main():
        async def sleeper():
            while True:
                await asyncio.sleep(1)
        ts = [asyncio.ensure_future(sleeper()) for _ in range(100)]
        await asyncio.sleep(0.01)
        c0, w0 = time.process_time_ns(), time.monotonic_ns()
        await asyncio.sleep(2)
        r = (time.process_time_ns() - c0) / (time.monotonic_ns() - w0) * 100
        for t in ts:
            t.cancel()
        return r
    emit(bench="idle_cpu", tasks=100, cpu_pct=run(main()))


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


if selected("parked_task"):
    n = 10_000

    async def main():
        e = asyncio.Event()
        b0 = _bytes() if _bytes else 0
        m0, r0 = mallocs(), rss()

        async def parked():
            await e.wait()
        ts = [asyncio.ensure_future(parked()) for _ in range(n)]
        await asyncio.sleep(0)
        out = ((_bytes() - b0) / n if _bytes else None, (rss() - r0) / n, (mallocs() - m0) / n if _calls else None)
        e.set()
        await asyncio.gather(*ts)
        return out
    b, r, m = run(main())
    emit(bench="parked_task", tasks=n, malloc_bytes_per_task=b, rss_bytes_per_task=r, mallocs_per_task=m)
