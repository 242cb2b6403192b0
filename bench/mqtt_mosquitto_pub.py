#!/usr/bin/env python3
"""mosquitto_pub (the C client, libmosquitto) publishing the same payloads as firmloop's
mqtt_drain, QoS 1, the same window of 16 in flight (-M 16), to the same loopback mosquitto:
one process reading the payloads a line each from stdin (-l), from its start until it exits
after the last PUBACK (its connect and disconnect included: about a millisecond on loopback)."""
import argparse, json, resource, subprocess, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--payloads", required=True)
ap.add_argument("--cafile", help="TLS: the CA of the broker's certificate (the drain over TLS)")
a = ap.parse_args()
n = sum(1 for _ in open(a.payloads, "rb"))
cmd = ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(a.port), "-i", "mosquitto-pub-bench", "-q", "1", "-M", "16",
       "-t", "firmloop/bench/snapshot", "-l"]
if a.cafile:
    cmd += ["--cafile", a.cafile]
with open(a.payloads, "rb") as stdin:
    t0 = time.perf_counter()
    rc = subprocess.run(cmd, stdin=stdin).returncode
    dt = time.perf_counter() - t0
if rc != 0:
    raise SystemExit(f"mosquitto_pub exited {rc}")
print(json.dumps({"bench": "mqtt_drain_tls" if a.cafile else "mqtt_drain", "impl": "mosquitto_pub", "msgs": n, "window": 16,
                  "msgs_per_s": round(n / dt, 2), "wall_ms": round(dt * 1000, 2),
                  "rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 2)}))
