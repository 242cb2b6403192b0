#!/usr/bin/env python3
"""paho-mqtt publishing the same payloads as firmloop's mqtt_drain, QoS 1, the same window of 16
in flight, to the same loopback mosquitto: from the first publish until the last PUBACK.

Fed as firmloop feeds its client: at most 256 handed to paho at a time, topped up as PUBACKs
come. (Handing paho all 100,000 at once is slower still: its queue is scanned on every ack,
so the drain goes quadratic; measured 22k msgs/s at 10,000 and minutes for 100,000.)"""
import argparse, json, resource, threading, time

import paho.mqtt.client as mqtt

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--payloads", required=True)
ap.add_argument("--cafile", help="TLS: the CA of the broker's certificate (the drain over TLS)")
a = ap.parse_args()
payloads = open(a.payloads, "rb").read().split(b"\n")[:-1]
n = len(payloads)

done, connected = threading.Event(), threading.Event()
room = threading.Semaphore(256)
acked = 0


def on_publish(client, userdata, mid, reason_code=None, properties=None):
    global acked
    acked += 1
    room.release()
    if acked == n:
        done.set()


c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-bench")
c.max_inflight_messages_set(16)
c.max_queued_messages_set(0)
c.on_publish = on_publish
c.on_connect = lambda *args: connected.set()
if a.cafile:
    c.tls_set(ca_certs=a.cafile)   # TLS 1.2+, the certificate and host name checked, as ours
c.connect("127.0.0.1", a.port, keepalive=30)
c.loop_start()
connected.wait(10)
t0 = time.perf_counter()
for p in payloads:
    room.acquire()
    c.publish("firmloop/bench/snapshot", p, qos=1)
done.wait()
dt = time.perf_counter() - t0
c.disconnect()
c.loop_stop()
print(json.dumps({"bench": "mqtt_drain_tls" if a.cafile else "mqtt_drain", "impl": "paho-mqtt", "msgs": n, "window": 16,
                  "msgs_per_s": round(n / dt, 2), "wall_ms": round(dt * 1000, 2),
                  "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 2)}))
