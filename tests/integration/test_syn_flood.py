#!/usr/bin/env python3
"""A SYN flood from many (address, port) pairs against a listening port (issue 15, row 2).

Two daemons on a veth pair (af_packet), A listening. From a raw socket in B's namespace,
SYNs from 10 forged addresses x 100 ports, again and again for a few seconds. Before, each
SYN became a flow (~13 KB) for good, and every idle loop walked them all. Now, with
[limits] max_flows_per_engine = 200, max_flows_per_remote_ip = 50 and
half_open_timeout_ms = 1500:
- A's flow count never passes the engine cap, and no forged address holds more than 50;
- both cap counters move in `machnetctl stats --json` ("limits") and in the human output,
  and the log says so (one line per engine per 10 s, not per SYN);
- a victim pair (flow_check from B to A, connected before the flood) keeps exchanging
  messages, every byte checked; the kernel's ping to A is answered throughout;
- once the flood stops, every half-open flow is reset within the timeout (counted), and
  only the victim's flow is left.

Needs root; skips otherwise."""

import os
import textwrap
import time

from machnet_testlib import cpu_used_over, main, wait_for
from machnet_topology import A_IP, B_IP, FLOW_CHECK, FLOW_PORT, WIRE_ATTACK, Proc, TwoDaemonTest

MAX_FLOWS = 200
MAX_PER_IP = 50
HALF_OPEN_MS = 1500
FORGED_IPS = [f"10.77.0.{100 + i}" for i in range(10)]
PORTS_PER_IP = 100

LIMITS = textwrap.dedent(f"""\
    [limits]
    max_flows_per_engine = {MAX_FLOWS}
    max_flows_per_remote_ip = {MAX_PER_IP}
    half_open_timeout_ms = {HALF_OPEN_MS}
    """)

class SynFloodTest(TwoDaemonTest):
    def setUp(self):
        super().setUp()
        self.topo = self.topology()

    def flood(self, a_mac, seconds, sources, ports):
        """From a raw socket in B's namespace, on the interface B's daemon drives: SYNs for A's
        listening port from every (forged address, port); A's SYN-ACKs die on the link."""
        return Proc(self, f"flood-{time.monotonic_ns()}",
                    ["python3", WIRE_ATTACK, self.topo.if_b, a_mac, A_IP, FLOW_PORT, "syn-flood",
                     "--sources", ",".join(sources), "--ports", ports, "--seconds", seconds],
                    dict(os.environ), self.topo.ns_b)

    def idle_cpu(self, seconds=2.0):
        return cpu_used_over(self.a.proc.pid, seconds)

    def live_flows(self):
        return [f for f in self.flows(self.a) if f.get("state") != "reset"]

    def test_flows_stay_under_the_caps_and_half_open_ones_go(self):
        self.a, self.b = self.start_pair(self.topo, extra=LIMITS)
        a_mac = self.a.ctl_json("status")["port"]["mac"]
        # The victim: connected before the flood, messages both ways throughout.
        self.flow_server(self.a, self.topo.ns_a, A_IP)
        victim = Proc(self, "victim", [FLOW_CHECK, "client", "--local_ip", B_IP, "--remote_ip", A_IP,
                                       "--port", FLOW_PORT, "--count", 4000, "--seed", 5, "--max_size", 16384,
                                       "--window", 4, "--timeout_s", 60], self.app_env(self.b), self.topo.ns_b)
        wait_for(lambda: [f for f in self.live_flows() if f["remote_ip"] == B_IP], 20, "the victim's flow on A")

        flood = self.flood(a_mac, 4.0, FORGED_IPS, PORTS_PER_IP)
        ping = Proc(self, "ping", ["ping", "-c", 20, "-i", 0.2, "-W", 1, A_IP], dict(os.environ), self.topo.ns_b)
        peak, per_ip_peak = 0, 0
        while flood.proc.poll() is None:
            flows = self.live_flows()
            peak = max(peak, len(flows))
            counts = {}
            for f in flows:
                counts[f["remote_ip"]] = counts.get(f["remote_ip"], 0) + 1
            per_ip_peak = max([per_ip_peak] + [n for ip, n in counts.items() if ip in FORGED_IPS])
            time.sleep(0.2)
        self.assertIn("sent", flood.text())
        print(f"flood: {flood.text().strip()}; flows on A at most {peak}, per forged address at most {per_ip_peak}")
        self.assertGreater(peak, MAX_FLOWS / 2, "the flood made few flows: did the SYNs reach A?")
        self.assertLessEqual(peak, MAX_FLOWS, "A held more flows than [limits] max_flows_per_engine")
        self.assertLessEqual(per_ip_peak, MAX_PER_IP, "one address held more than max_flows_per_remote_ip")

        limits = self.a.ctl_json("stats")["limits"]
        self.assertGreater(limits["syn_dropped_max_flows_per_engine"], 0, limits)
        self.assertGreater(limits["syn_dropped_max_flows_per_remote_ip"], 0, limits)
        human = self.a.ctl("stats", check=True).stdout
        self.assertIn("syn_dropped_max_flows_per_engine", human)

        # The victim's every message came back right; ping was answered throughout.
        victim.wait_line(r'"role":"client"', 90)
        summary = [j for j in victim.json_lines() if j.get("role") == "client"][-1]
        self.assertTrue(summary["ok"], summary)
        self.assertEqual(summary["errors"], 0, summary)
        self.assertEqual(ping.finish(30), 0, ping.text())
        self.assertIn(" 0% packet loss", ping.text())

        # After the half-open timeout (checked every 10 ms) the forged flows are gone.
        wait_for(lambda: not [f for f in self.live_flows() if f["remote_ip"] in FORGED_IPS],
                 HALF_OPEN_MS / 1000 + 3, "the half-open flows to be reset")
        limits = self.a.ctl_json("stats")["limits"]
        print(f"limits: {limits}")
        self.assertGreaterEqual(limits["half_open_timeouts"], MAX_FLOWS / 2, limits)
        log = self.a.read_log()
        self.assertIn("dropped at [limits] max_flows_per_engine", log)
        self.assertLess(log.count("max_flows_per_engine"), 10, "the cap hits flooded the log")


    def test_idle_cost_does_not_grow_with_the_flows_held(self):
        """5,000 half-open flows held (a long timeout, caps above them): the idle daemon's
        CPU stays near what it used with none (it walked every flow in every idle loop)."""
        sources = [f"10.77.1.{i}" for i in range(1, 51)]
        self.a, self.b = self.start_pair(self.topo, extra=textwrap.dedent("""\
            [limits]
            max_flows_per_remote_ip = 200
            half_open_timeout_ms = 60000
            """))
        self.flow_server(self.a, self.topo.ns_a, A_IP)
        baseline = self.idle_cpu()
        flood = self.flood(self.a.ctl_json("status")["port"]["mac"], 1.5, sources, 100)
        flood.finish(60)
        wait_for(lambda: len(self.live_flows()) >= 4900, 20, "A to hold the flood's flows")
        held = len(self.live_flows())
        loaded = self.idle_cpu()
        print(f"idle CPU over 2 s: {baseline:.3f} s with no flows, {loaded:.3f} s holding {held} flows")
        self.assertLess(loaded, 2 * baseline + 0.15,
                        f"the idle daemon used {loaded:.2f} s of CPU in 2 s holding {held} flows, {baseline:.2f} s with none")


if __name__ == "__main__":
    main()
