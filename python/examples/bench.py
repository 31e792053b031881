#!/usr/bin/python3
"""Request-reply benchmark over the Python binding, with msg_gen's flags and report, so the
numbers sit next to C's msg_gen (examples/msg_gen.cc):

    server:  bench.py --local_ip 10.0.0.1
    client:  bench.py --local_ip 10.0.0.2 --remote_ip 10.0.0.1 --msg_size 1024 --msg_window 32

The client keeps --msg_window requests in flight on one flow (request = 8-byte sequence
number, 8-byte send time, then a pattern) and prints each second messages/s, Gbit/s and the
p50/p99/p99.9/max round-trip latency, then a summary (--json: one JSON object with msg_gen's
keys). The server echoes every message on its flow. Both poll the channel for --spin_us after
the last activity, then sleep on the channel's descriptor.
"""

from __future__ import annotations

import argparse
import json
import resource
import select
import signal
import struct
import sys
import time
from typing import Optional

import machnet

HEADER = struct.Struct("<QQ")
_stop = False


def _on_signal(signum: int, frame: object) -> None:
    global _stop
    _stop = True


def percentile(sorted_ns: list[int], p: float) -> float:
    if not sorted_ns:
        return 0.0
    return sorted_ns[min(len(sorted_ns) - 1, int(len(sorted_ns) * p / 100))] / 1e3


class Waiter:
    """Spin for spin_ns after the last activity, then sleep on the descriptor (10 ms at most)."""

    def __init__(self, ch: machnet.Channel, spin_us: int) -> None:
        self.poll = select.poll()
        self.poll.register(ch.fileno(), select.POLLIN)
        self.spin_ns = spin_us * 1000
        self.last = time.monotonic_ns()

    def active(self) -> None:
        self.last = time.monotonic_ns()

    def idle(self) -> None:
        if time.monotonic_ns() - self.last > self.spin_ns:
            self.poll.poll(10)


def run_server(o: argparse.Namespace, ch: machnet.Channel) -> int:
    ch.listen(o.local_ip, o.local_port)
    print(f"listening on {o.local_ip}:{o.local_port}", flush=True, file=sys.stderr if o.json else sys.stdout)
    buf = bytearray(ch.max_message_bytes)
    view = memoryview(buf)
    w = Waiter(ch, o.spin_us)
    echoed, start = 0, time.monotonic()
    while not _stop and (o.msg_nr == 0 or echoed < o.msg_nr):
        got = ch.recv_into(buf)
        if got is None:
            w.idle()
            continue
        w.active()
        n, flow, _ = got
        while True:
            try:
                ch.send(flow, view[:n])
                break
            except BlockingIOError:
                pass
        echoed += 1
    secs = time.monotonic() - start
    print(f"[bench.py python server] summary: {echoed} messages echoed in {secs:.2f} s "
          f"({echoed / secs if secs else 0:.0f} msgs/s)", flush=True)
    return 0


def run_client(o: argparse.Namespace, ch: machnet.Channel) -> int:
    flow = ch.connect(o.local_ip, o.remote_ip, o.remote_port)
    tx = bytearray(o.msg_size)
    for i in range(HEADER.size, o.msg_size):
        tx[i] = i & 0xFF  # msg_gen's pattern_byte(seq 0, i)
    rx = bytearray(o.msg_size)
    w = Waiter(ch, o.spin_us)
    lines = sys.stderr if o.json else sys.stdout
    rtts: list[int] = []
    interval: list[int] = []
    sent = verify_errors = send_busy = 0
    in_flight = 0
    start = last_tick = last_progress = time.monotonic_ns()
    end = start + int(o.duration * 1e9) if o.duration > 0 else None
    error: Optional[str] = None
    sending = True
    while True:
        now = time.monotonic_ns()
        if sending and (_stop or (end and now >= end) or (o.msg_nr and sent >= o.msg_nr)):
            sending = False
            drain_until = now + 1_000_000_000
        if not sending and (in_flight == 0 or now >= drain_until):
            break
        while sending and in_flight < o.msg_window:
            HEADER.pack_into(tx, 0, sent, time.monotonic_ns())
            try:
                ch.send(flow, tx)
            except BlockingIOError:
                send_busy += 1
                break
            sent += 1
            in_flight += 1
        got = ch.recv_into(rx)
        if got is None:
            if now - last_progress > 5_000_000_000:
                error = "no reply for 5 s"
                break
            w.idle()
        else:
            w.active()
            n, _, _ = got
            seq, t = HEADER.unpack_from(rx)
            t_now = time.monotonic_ns()
            interval.append(t_now - t)
            in_flight -= 1
            last_progress = t_now
            if o.verify and (n != o.msg_size or rx[HEADER.size:] != tx[HEADER.size:] or seq >= sent):
                verify_errors += 1
        if now - last_tick >= 1_000_000_000:
            secs = (now - last_tick) / 1e9
            interval.sort()
            rate = len(interval) / secs
            print(f"[bench.py python] t={(now - start) / 1e9:5.1f}s  {rate:10.0f} msgs/s  "
                  f"{rate * o.msg_size * 8 / 1e9:7.3f} Gbit/s  p50 {percentile(interval, 50):8.1f}  "
                  f"p99 {percentile(interval, 99):8.1f}  p99.9 {percentile(interval, 99.9):8.1f}  "
                  f"max {percentile(interval, 100):8.1f} us", file=lines, flush=True)
            rtts.extend(interval)
            interval = []
            last_tick = now
    rtts.extend(interval)
    flow.close()
    secs = (time.monotonic_ns() - start) / 1e9
    rtts.sort()
    rate = len(rtts) / secs if secs else 0.0
    if verify_errors and not error:
        error = f"{verify_errors} replies did not match"
    ru = resource.getrusage(resource.RUSAGE_SELF)
    summary = {"tool": "bench.py", "transport": "python", "role": "client", "ok": error is None,
               "msg_size": o.msg_size, "msg_window": o.msg_window, "seconds": secs, "messages": len(rtts),
               "msgs_per_s": rate, "gbit_per_s": rate * o.msg_size * 8 / 1e9,
               "latency_us": {"min": percentile(rtts, 0), "mean": (sum(rtts) / len(rtts) / 1e3) if rtts else 0,
                              "p50": percentile(rtts, 50), "p99": percentile(rtts, 99),
                              "p99.9": percentile(rtts, 99.9), "max": percentile(rtts, 100)},
               "sent": sent, "lost": 0, "late": 0, "verify_errors": verify_errors, "send_busy": send_busy,
               "cpu_s": ru.ru_utime + ru.ru_stime}
    if error:
        summary["error"] = error
    if o.json:
        print(json.dumps(summary), flush=True)
    else:
        lat = summary["latency_us"]
        print(f"[bench.py python] summary: {len(rtts)} round trips of {o.msg_size} B in {secs:.2f} s "
              f"(window {o.msg_window}): {rate:.0f} msgs/s, {summary['gbit_per_s']:.3f} Gbit/s\n"
              f"  latency us: min {lat['min']:.1f}  mean {lat['mean']:.1f}  p50 {lat['p50']:.1f}  "
              f"p99 {lat['p99']:.1f}  p99.9 {lat['p99.9']:.1f}  max {lat['max']:.1f}\n"
              f"  sent {sent}  lost 0  late 0  verify errors {verify_errors}  send busy {send_busy}", flush=True)
    if error:
        print(f"bench.py: {error}", file=sys.stderr)
    return 0 if error is None else 1


def main() -> int:
    p = argparse.ArgumentParser(description="Request-reply benchmark over machnet's Python binding "
                                            "(msg_gen's flags). Without --remote_ip: echo server.")
    p.add_argument("--local_ip", required=True)
    p.add_argument("--remote_ip")
    p.add_argument("--local_port", type=int, default=888)
    p.add_argument("--remote_port", type=int, default=888)
    p.add_argument("--msg_size", type=int, default=64)
    p.add_argument("--msg_window", type=int, default=8)
    p.add_argument("--msg_nr", type=int, default=0)
    p.add_argument("--duration", type=float, default=0)
    p.add_argument("--verify", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--spin_us", type=int, default=200)
    o = p.parse_args()
    if o.msg_size < HEADER.size or o.msg_window < 1:
        p.error("--msg_size must be at least 16 and --msg_window at least 1")
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    with machnet.Channel() as ch:
        return run_client(o, ch) if o.remote_ip else run_server(o, ch)


if __name__ == "__main__":
    sys.exit(main())
