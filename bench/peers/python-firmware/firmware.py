#!/usr/bin/env python3
"""The firmware a Raspberry Pi user would write in Python instead of Firmloop's: the same job,
in idiomatic asyncio, for issue 28's side-by-side rows in `make bench`.

- a GPS on a serial port (a pty in the bench) read without blocking (`loop.add_reader`), split
  into lines, each parsed by pynmea2 (bad ones counted, never fatal), the last fix kept;
- a snapshot every `--interval` seconds: device, seq, time, uptime, the fix, the outbox's
  backlog, as JSON;
- a durable outbox in sqlite3 with Firmloop's guarantees: a snapshot is stored (committed)
  before it is offered to the broker and removed only when the broker's PUBACK for it came;
  what is stored is sent again after a reconnect or a restart, in order;
- paho-mqtt (its network thread, as its docs show) at QoS 1, a will and a retained
  online/offline on `firmloop/<id>/status`, at most `--window` snapshots in flight.

On SIGINT or SIGTERM it stops cleanly (offline published) and prints one JSON line: snapshots
taken, acknowledged, bad NMEA lines, and the taken-to-PUBACK latency's p50 and p99 in ms.

usage: firmware.py --serial /dev/pts/N --baud 9600 --broker 127.0.0.1:1883 --device-id py
                   --interval 0.1 --outbox /tmp/py.outbox [--window 256]
"""
import argparse, asyncio, json, os, signal, sqlite3, termios, time

import paho.mqtt.client as mqtt
import pynmea2

BAUD = {9600: termios.B9600, 19200: termios.B19200, 38400: termios.B38400, 57600: termios.B57600, 115200: termios.B115200}


class Outbox:
    """Snapshots on disk until acknowledged (sqlite3, WAL, a commit per change)."""

    def __init__(self, path):
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")   # as Firmloop's: a stored snapshot survives a power cut
        self.db.execute("CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY, payload BLOB)")
        self.next_seq = (self.db.execute("SELECT MAX(seq) FROM outbox").fetchone()[0] or 0) + 1

    def store(self, seq, payload):
        self.db.execute("INSERT INTO outbox VALUES (?, ?)", (seq, payload))

    def remove(self, seq):
        self.db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))

    def pending(self, after, limit):
        return self.db.execute("SELECT seq, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)).fetchall()

    def count(self):
        return self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]


class Firmware:
    def __init__(self, args):
        self.args = args
        self.loop = asyncio.get_running_loop()
        self.outbox = Outbox(args.outbox)
        self.fix = None
        self.bad = 0
        self.taken = 0
        self.acked = 0
        self.latencies = []
        self.inflight = {}   # paho mid -> (seq, when it was taken: None for one stored by an earlier run)
        self.taken_at = {}   # seq -> time.monotonic() when taken, until handed to paho
        self.sent_up_to = 0  # the highest seq handed to paho on this connection
        self.connected = False
        self.started = time.monotonic()
        self.wake = asyncio.Event()
        host, _, port = args.broker.rpartition(":")
        self.topic = f"firmloop/{args.device_id}"
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="py-" + args.device_id, clean_session=True)
        c.will_set(self.topic + "/status", "offline", qos=1, retain=True)
        c.max_inflight_messages_set(args.window)
        c.reconnect_delay_set(1, 30)
        c.on_connect = lambda *a: self.loop.call_soon_threadsafe(self.on_connect)
        c.on_disconnect = lambda *a: self.loop.call_soon_threadsafe(self.on_disconnect)
        c.on_publish = lambda client, userdata, mid, rc, props: self.loop.call_soon_threadsafe(self.on_puback, mid)
        c.connect_async(host, int(port), keepalive=30)
        c.loop_start()
        self.client = c

    # MARK: MQTT (callbacks moved onto the event loop)

    def on_connect(self):
        self.connected = True
        self.inflight.clear()
        self.sent_up_to = 0
        self.client.publish(self.topic + "/status", "online", qos=1, retain=True)
        self.wake.set()

    def on_disconnect(self):
        self.connected = False

    def on_puback(self, mid):
        entry = self.inflight.pop(mid, None)
        if entry is None:
            return
        seq, taken = entry
        self.outbox.remove(seq)
        self.acked += 1
        if taken is not None:
            self.latencies.append(time.monotonic() - taken)
        self.wake.set()

    async def forward(self):
        """Stored snapshots to paho, oldest first, at most `window` in flight."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.connected and len(self.inflight) < self.args.window:
                rows = self.outbox.pending(self.sent_up_to, self.args.window - len(self.inflight))
                if not rows:
                    break
                for seq, payload in rows:
                    info = self.client.publish(self.topic + "/snapshot", payload, qos=1)
                    self.inflight[info.mid] = (seq, self.taken_at.pop(seq, None))
                    self.sent_up_to = seq

    # MARK: the GPS

    def open_serial(self):
        fd = os.open(self.args.serial, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        attrs = termios.tcgetattr(fd)
        attrs[0] = attrs[1] = attrs[3] = 0                      # raw: no input, output or local processing
        attrs[2] = termios.CS8 | termios.CREAD | termios.CLOCAL
        attrs[4] = attrs[5] = BAUD[self.args.baud]
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
        self.buffer = b""
        self.loop.add_reader(fd, self.on_serial, fd)
        return fd

    def on_serial(self, fd):
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        if len(self.buffer) > 1024:   # a line that never ends: dropped, counted
            self.buffer = b""
            self.bad += 1
        for raw in lines:
            try:
                msg = pynmea2.parse(raw.decode("ascii").strip(), check=True)
            except (pynmea2.ParseError, pynmea2.ChecksumError, pynmea2.SentenceTypeError, UnicodeDecodeError, ValueError, AttributeError, TypeError):
                self.bad += 1
                continue
            if isinstance(msg, pynmea2.types.talker.GGA) and msg.gps_qual:
                self.fix = {"lat": msg.latitude, "lon": msg.longitude, "alt": msg.altitude, "sats": int(msg.num_sats or 0),
                            "hdop": float(msg.horizontal_dil or 0), "time": str(msg.timestamp)}

    # MARK: snapshots

    async def snapshots(self):
        period = self.args.interval
        next_at = time.monotonic()
        while True:
            taken = time.monotonic()
            seq = self.outbox.next_seq
            self.outbox.next_seq += 1
            payload = json.dumps({"device": self.args.device_id, "seq": seq, "time": time.time(),
                                  "uptime_ms": int((taken - self.started) * 1000), "gps": self.fix, "bad_nmea": self.bad,
                                  "outbox": {"pending": len(self.inflight)}}, separators=(",", ":"))
            self.outbox.store(seq, payload)   # on disk before it is offered
            self.taken_at[seq] = taken
            self.taken += 1
            self.wake.set()
            next_at += period
            await asyncio.sleep(max(0, next_at - time.monotonic()))

    def report(self):
        lat = sorted(self.latencies)
        pct = lambda p: round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else None
        return {"impl": "python-firmware", "taken": self.taken, "acked": self.acked, "bad_nmea": self.bad,
                "pending": self.outbox.count(), "puback_ms_p50": pct(0.5), "puback_ms_p99": pct(0.99)}

    async def stop(self):
        self.client.publish(self.topic + "/status", "offline", qos=1, retain=True).wait_for_publish(3)
        self.client.disconnect()
        self.client.loop_stop()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--serial", required=True)
    p.add_argument("--baud", type=int, default=9600, choices=sorted(BAUD))
    p.add_argument("--broker", default="127.0.0.1:1883")
    p.add_argument("--device-id", default="py")
    p.add_argument("--interval", type=float, default=2.0)
    p.add_argument("--outbox", required=True)
    p.add_argument("--window", type=int, default=256)
    args = p.parse_args()
    fw = Firmware(args)
    fw.open_serial()
    done = asyncio.Event()
    for s in (signal.SIGINT, signal.SIGTERM):
        fw.loop.add_signal_handler(s, done.set)
    tasks = [asyncio.create_task(fw.snapshots()), asyncio.create_task(fw.forward())]
    await done.wait()
    for t in tasks:
        t.cancel()
    await fw.stop()
    print(json.dumps(fw.report()), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
