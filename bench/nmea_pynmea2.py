#!/usr/bin/env python3
"""pynmea2 (PyPI) on the bytes firmloop-bench's nmea bench framed and parsed: each line of
BENCH_NMEA_DIR/{log,mix}.nmea through pynmea2.parse(check=True), errors counted. Best of 3
(the file read and split are outside the timing, as the framing is inside ours: generous)."""
import json, os, sys, time

import pynmea2

d = sys.argv[1]
for name in ("log", "mix"):
    data = open(os.path.join(d, name + ".nmea"), "rb").read()
    lines = [l.decode("ascii", "replace").strip() for l in data.split(b"\n") if l.strip()]
    best, good, bad = float("inf"), 0, 0
    for _ in range(3):
        good = bad = 0
        t0 = time.perf_counter()
        for l in lines:
            try:
                pynmea2.parse(l, check=True)
                good += 1
            except (pynmea2.ParseError, pynmea2.ChecksumError, pynmea2.SentenceTypeError, ValueError, AttributeError, TypeError):
                bad += 1
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"bench": "nmea_" + name, "impl": "pynmea2", "bytes": len(data), "lines": len(lines), "good": good, "bad": bad,
                      "mb_per_s": round(len(data) / 1e6 / best, 2), "sentences_per_s": round(len(lines) / best, 1),
                      "wall_ms": round(best * 1000, 2)}))
