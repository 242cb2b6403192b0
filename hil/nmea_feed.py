#!/usr/bin/env python3
"""Writes a gpsd regression log as a GPS receiver would: one epoch at a time.

usage: nmea_feed.py LOG [PACE_MS] > /dev/serial0

An epoch is the run of sentences that carry one time of fix (RMC, GGA, GLL, GNS, ZDA) and the
untimed ones (GSA, GSV, VTG, ...) between them; a sentence with a new time starts the next.
Pacing epochs (default 300 ms apart) lets the firmware publish the fixes one by one, so
they can be compared with gpsd's own decoding (LOG.chk). hil/vm/uart_peer.py uses the same
split for the VM; on a Pi, hil/scenarios/harness-pi.sh runs this into the looped-back UART.
"""
import sys
import time

TIME_FIELD = {b"RMC": 1, b"GGA": 1, b"GNS": 1, b"ZDA": 1, b"GLL": 5}


def epochs(data):
    """The log's lines grouped by epoch (bytes each, newlines kept)."""
    out, current, current_time = [], [], None
    for line in data.splitlines(keepends=True):
        fields = line.rstrip(b"\r\n").split(b"*")[0].split(b",")
        t = None
        if line.startswith(b"$") and len(fields[0]) == 6 and fields[0][3:] in TIME_FIELD:
            i = TIME_FIELD[fields[0][3:]]
            t = fields[i] if len(fields) > i and fields[i] else None
        if t is not None and current_time is not None and t != current_time and current:
            out.append(b"".join(current))
            current = []
        if t is not None:
            current_time = t
        current.append(line)
    if current:
        out.append(b"".join(current))
    return out


def feed(data, write, pace_ms):
    for e in epochs(data):
        write(e)
        time.sleep(pace_ms / 1000)


if __name__ == "__main__":
    with open(sys.argv[1], "rb") as f:
        data = f.read()
    out = sys.stdout.buffer

    def write(b):
        out.write(b)
        out.flush()

    feed(data, write, int(sys.argv[2]) if len(sys.argv) > 2 else 300)
