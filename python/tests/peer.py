#!/usr/bin/python3
"""A Python peer for tests that need a second process (another daemon, or an interpreter
that exits under observation).

    peer.py leak [--channels N] [--hard]   attach N channels (one a context manager left open,
                                           one an AsyncChannel), print "attached N", wait for
                                           stdin to close, exit without detaching
                                           (--hard: os._exit, no Python cleanup at all)
    peer.py sizes --local_ip A --remote_ip B --port P
                                           send 1 B .. 8 MiB to an echo server, check every
                                           echo byte-exact, print one JSON line
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time

import machnet

SIZES = [1, 7, 64, 1000, 4095, 4096, 4097, 65536, 1 << 20, 3 << 20, 8 << 20]


def leak(n: int, hard: bool) -> int:
    kept = [machnet.Channel() for _ in range(max(0, n - 2))]
    cm = machnet.Channel().__enter__()  # entered, never exited
    kept.append(cm)

    async def make_async() -> machnet.AsyncChannel:
        return machnet.AsyncChannel()
    loop = asyncio.new_event_loop()
    kept.append(loop.run_until_complete(make_async()).channel)
    print(f"attached {len(kept)}", flush=True)
    sys.stdin.read()
    if hard:
        os._exit(0)
    return 0


def sizes(local_ip: str, remote_ip: str, port: int) -> int:
    rng = random.Random(5)
    t0 = time.monotonic()
    with machnet.Channel() as ch:
        flow = ch.connect(local_ip, remote_ip, port)
        total = 0
        for size in SIZES:
            data = rng.randbytes(size)
            deadline = time.monotonic() + 30
            while True:
                try:
                    flow.send(data)
                    break
                except BlockingIOError:
                    assert time.monotonic() < deadline, "channel stayed full"
                    time.sleep(0.001)
            echo = ch.recv(timeout=60)
            if echo is None or echo.data != data:
                print(json.dumps({"ok": False, "size": size, "got": None if echo is None else len(echo.data)}))
                return 1
            total += size
        flow.close()
    print(json.dumps({"ok": True, "messages": len(SIZES), "bytes": total, "seconds": time.monotonic() - t0}))
    return 0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["leak", "sizes"])
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--hard", action="store_true")
    p.add_argument("--local_ip", default="127.0.0.1")
    p.add_argument("--remote_ip", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7000)
    a = p.parse_args()
    if a.mode == "leak":
        return leak(a.channels, a.hard)
    return sizes(a.local_ip, a.remote_ip, a.port)


if __name__ == "__main__":
    sys.exit(main())
