#!/usr/bin/python3
"""The Python binding's own cost per message, without waiting for anyone: queue N messages
on one channel (timing each send), let the daemon deliver them all to a second channel, then
take them out (timing each receive). The same with the raw ctypes calls (libmachnet plus
ctypes' call cost, no binding) tells how much the binding adds per message.

Usage: overhead.py [--size BYTES] [--count N] [--ip 127.0.0.1] [--port 7777]
(MACHNET_SOCKET names the daemon; it must have the address --ip, e.g. [nic] mode = "none").
"""

from __future__ import annotations

import argparse
import ctypes
import json
import time

import machnet
from machnet._lib import CFlow, lib


def wait_delivered(ch: machnet.Channel, count: int) -> None:
    deadline = time.monotonic() + 30
    while ch.stats()["msgs_received"] < count:
        if time.monotonic() > deadline:
            raise TimeoutError("the daemon did not deliver the batch within 30 s")
        time.sleep(0.001)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--ip", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7777)
    o = p.parse_args()
    tx, rx = bytearray(o.size), bytearray(max(o.size, 1))
    results: dict[str, list[float]] = {k: [] for k in ("send", "recv_into", "recv", "raw_send", "raw_recv")}
    with machnet.Channel() as server, machnet.Channel() as client:
        server.listen(o.ip, o.port)
        flow = client.connect(o.ip, o.ip, o.port)
        delivered = 0
        raw_flow = CFlow(flow._c.src_ip, flow._c.dst_ip, flow._c.src_port, flow._c.dst_port)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(tx)) if o.size else None
        raddr = ctypes.addressof(ctypes.c_char.from_buffer(rx))
        cflow = CFlow()
        for r in range(o.rounds):
            for kind in ("binding", "raw"):
                t = time.perf_counter_ns()
                if kind == "binding":
                    for _ in range(o.count):
                        flow.send(tx)
                else:
                    for _ in range(o.count):
                        if lib.machnet_send(client._h, raw_flow, addr, o.size) != 0:
                            raise OSError(ctypes.get_errno(), "send")
                results["send" if kind == "binding" else "raw_send"].append((time.perf_counter_ns() - t) / o.count)
                delivered += o.count
                wait_delivered(server, delivered)
                t = time.perf_counter_ns()
                if kind == "raw":
                    for _ in range(o.count):
                        if lib.machnet_recv(server._h, raddr, len(rx), ctypes.byref(cflow)) != o.size:
                            raise OSError(ctypes.get_errno(), "recv")
                    results["raw_recv"].append((time.perf_counter_ns() - t) / o.count)
                elif r % 2:
                    for _ in range(o.count):
                        server.recv()
                    results["recv"].append((time.perf_counter_ns() - t) / o.count)
                else:
                    for _ in range(o.count):
                        server.recv_into(rx)
                    results["recv_into"].append((time.perf_counter_ns() - t) / o.count)
    med = {k: sorted(v)[len(v) // 2] / 1e3 for k, v in results.items() if v}
    med["binding_adds_per_message_us"] = (med["send"] - med["raw_send"]) + (med["recv_into"] - med["raw_recv"])
    print(json.dumps({"size": o.size, "count": o.count, "rounds": o.rounds, "us_per_call_median": med}))


if __name__ == "__main__":
    main()
