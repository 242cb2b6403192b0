#!/usr/bin/env python3
"""The host end of the VM's GPS UART (ttyS1, /dev/serial0 in the VM): a GPS receiver on request.

usage: uart_peer.py SOCKET NMEA_DIR

qemu serves ttyS1 on a unix socket (-serial unix:SOCKET,server=on,wait=off). The scenarios
write "HIL-FEED <name> [pace_ms]" on the UART's TX line (the firmware never transmits on its
GPS port, so TX is free to carry requests); the peer answers by writing NMEA_DIR/<name>, a
gpsd regression log, into the UART's RX one epoch every pace_ms, as a receiver wired to it
would (hil/nmea_feed.py, which a Pi's harness runs too). It stays connected until
qemu exits: bytes sent while no client is connected are dropped by qemu, and closing early
made qemu drop the tail of what was written. Exit status 1 if a request could not be served.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from nmea_feed import epochs, feed  # noqa: E402


def connect(path):
    deadline = time.monotonic() + 60          # qemu makes the socket as it starts
    while True:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                sys.exit(f"uart peer: no qemu socket at {path}")
            time.sleep(0.05)


def main():
    sock_path, nmea_dir = sys.argv[1], sys.argv[2]
    s = connect(sock_path)
    print(f"uart peer: connected to {sock_path}", flush=True)
    failed = False
    buf = b""
    while True:
        try:
            chunk = s.recv(4096)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            text = line.decode("ascii", "replace").strip()
            if not text.startswith("HIL-FEED "):
                print(f"uart peer: ignored from the VM: {text!r}", flush=True)
                continue
            args = text.split()[1:]
            name = args[0] if args else ""
            pace = int(args[1]) if len(args) > 1 and args[1].isdigit() else 300
            path = os.path.join(nmea_dir, name)
            if os.path.basename(name) != name or not os.path.isfile(path):
                print(f"uart peer: FAILED: asked for {name!r}, which is not a file in {nmea_dir}", flush=True)
                failed = True
                continue
            with open(path, "rb") as f:
                data = f.read()
            t0 = time.monotonic()
            feed(data, s.sendall, pace)
            print(f"uart peer: wrote {path} ({len(data)} bytes, {len(epochs(data))} epochs "
                  f"{pace} ms apart, {time.monotonic() - t0:.1f} s) into the VM's UART", flush=True)
        if len(buf) > 4096:                    # no request is that long: not ours
            print(f"uart peer: ignored {len(buf)} bytes without a newline", flush=True)
            buf = b""
    print("uart peer: qemu closed the UART", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
