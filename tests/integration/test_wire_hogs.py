#!/usr/bin/env python3
"""Peers that hold the receiver's buffers without ever completing anything (issue 15, rows 3
and 4), with the shipped [limits].

Two daemons on a veth pair (af_packet), A listening (flow_check server). The attacker is a
raw socket in B's namespace (tests/tools/wire_attack.py) with a forged address; a victim
pair (flow_check from B's daemon to A) checks every byte it gets back.

- Row 3, the silent announcer: a SYN and the first 1 KiB of a message as large as the
  listening channel's whole receive room, then silence. Alone it costs nobody anything and
  is left alone; once the victim's messages wait for that room, the stalled message is
  dropped within reassembly_timeout_ms, its flow reset (counted), and the victim completes.
- Row 4, gaps never filled: 130 flows each send segments seq + 1 ... seq + 127, never seq.
  Before, they held more packet buffers than the port has, and nothing was received any
  more (ping, ARP, every flow) for good. Now the flows hold at most their share of the
  pool (held_packet_buffers_percent), packets past it are counted and not kept, ping is
  answered throughout, the victim keeps exchanging, and the idle daemon's CPU is back to
  its baseline after the attack.

Needs root; skips otherwise."""

import os
import time

from machnet_testlib import cpu_used_over, main, wait_for
from machnet_topology import A_IP, B_IP, FLOW_CHECK, FLOW_PORT, WIRE_ATTACK, Proc, TwoDaemonTest

ATTACKER_IP = "10.77.0.66"
REASSEMBLY_TIMEOUT_S = 2.0  # config/machnet.toml [limits] reassembly_timeout_ms
# The listening channel's receive room with the shipped [channels]: 2048 buffers of 4 KiB.
# One buffer less, so the message fits and leaves room for no victim message.
ROOM_HOG = 2047 * 4096


class WireHogTest(TwoDaemonTest):
    def setUp(self):
        super().setUp()
        self.topo = self.topology()
        self.a, self.b = self.start_pair(self.topo)
        self.a_mac = self.a.ctl_json("status")["port"]["mac"]
        self.server = self.flow_server(self.a, self.topo.ns_a, A_IP)

    def attack(self, mode, *args):
        p = Proc(self, f"attack-{mode}-{time.monotonic_ns()}",
                 ["python3", WIRE_ATTACK, self.topo.if_b, self.a_mac, A_IP, FLOW_PORT, mode, "--sources", ATTACKER_IP]
                 + list(args), dict(os.environ), self.topo.ns_b)
        self.assertEqual(p.finish(120), 0, p.text())
        self.assertIn("sent", p.text())
        return p

    def attacker_flows(self):
        return [f for f in self.flows(self.a) if f["remote_ip"] == ATTACKER_IP and f.get("state") != "reset"]

    def limits(self):
        return self.a.ctl_json("stats")["limits"]

    def victim(self, count, window=4, max_size=16384, timeout_s=60):
        return Proc(self, f"victim-{time.monotonic_ns()}",
                    [FLOW_CHECK, "client", "--local_ip", B_IP, "--remote_ip", A_IP, "--port", FLOW_PORT, "--count",
                     count, "--seed", 9, "--max_size", max_size, "--window", window, "--timeout_s", timeout_s],
                    self.app_env(self.b), self.topo.ns_b)

    def victim_summary(self, proc, timeout):
        proc.wait_line(r'"role":"client"', timeout)
        summary = [j for j in proc.json_lines() if j.get("role") == "client"][-1]
        self.assertTrue(summary["ok"], summary)
        self.assertEqual(summary["errors"], 0, summary)
        return summary

    def test_a_silent_announcer_yields_the_room_when_others_wait(self):
        self.attack("announce", "--msg-len", ROOM_HOG)
        wait_for(lambda: self.attacker_flows(), 10, "the announcer's flow on A")
        # Uncontended, a stalled message is left alone (it may be a VM pause).
        time.sleep(REASSEMBLY_TIMEOUT_S + 0.5)
        self.assertEqual(len(self.attacker_flows()), 1, "an uncontended stalled message was dropped")
        self.assertEqual(self.limits()["reassembly_timeouts"], 0)

        # The victim's messages need that room: the message stalled longer than
        # reassembly_timeout_ms already, so it goes at the first check (every 10 ms).
        t0 = time.monotonic()
        victim = self.victim(200)
        summary = self.victim_summary(victim, 60)
        took = time.monotonic() - t0
        print(f"victim: {summary['messages']} messages in {took:.2f} s with the announcer first in line")
        self.assertEqual(summary["messages"], 200)
        self.assertLess(took, 5, "the victim waited for the stalled message")
        limits = self.limits()
        print(f"limits: {limits}")
        self.assertEqual(limits["reassembly_timeouts"], 1, limits)
        self.assertFalse(self.attacker_flows(), "the stalled flow was not reset")
        ended = [f for f in self.flows(self.a) if f["remote_ip"] == ATTACKER_IP]
        self.assertTrue(ended and "reassembly_timeout_ms" in ended[0].get("error", ""), ended)
        self.assertIn("reassembly_timeout_ms", self.a.read_log())
        # The listening application was told of the flow it lost, and of nothing else.
        errors = [j for j in self.server.json_lines() if j.get("event") == "error"]
        self.assertEqual([e.get("error") for e in errors], ["recv failed: ECONNRESET"], errors)

    def test_gaps_never_filled_hold_at_most_their_share_of_buffers(self):
        baseline = cpu_used_over(self.a.proc.pid, 2)

        victim = self.victim(3000, window=8)
        wait_for(lambda: [f for f in self.flows(self.a) if f["remote_ip"] == B_IP], 20, "the victim's flow on A")
        ping = Proc(self, "ping", ["ping", "-c", 25, "-i", 0.2, "-W", 1, A_IP], dict(os.environ), self.topo.ns_b)
        self.attack("gaps", "--ports", 130, "--gap-segments", 127)

        stats = self.a.ctl_json("stats")
        limits, port = stats["limits"], stats["port"]
        print(f"after the attack: limits {limits}; mempool free {port.get('mempool_free')} in use "
              f"{port.get('mempool_in_use')}")
        self.assertGreater(limits["held_packet_buffers_cap"], 0, limits)
        self.assertLessEqual(limits["held_packet_buffers"], limits["held_packet_buffers_cap"], limits)
        self.assertGreater(limits["packets_not_kept_held_packet_buffers"], 0,
                           f"16,510 gap segments stayed under the cap: did they reach A? {limits}")
        self.assertGreater(port["mempool_free"], 1024, "the port's pool ran dry")

        self.assertEqual(ping.finish(30), 0, ping.text())
        self.assertIn(" 0% packet loss", ping.text())
        summary = self.victim_summary(victim, 90)
        self.assertEqual(summary["messages"], 3000)
        self.assert_server_clean(self.server)

        # The idle daemon, holding the attacker's flows and buffers, costs what it did before.
        loaded = cpu_used_over(self.a.proc.pid, 2)
        print(f"idle CPU over 2 s: {baseline:.3f} s before, {loaded:.3f} s holding {len(self.attacker_flows())} "
              f"gap flows")
        self.assertLess(loaded, 2 * baseline + 0.15, "the engine spins after the attack")
        self.assertIn("held_packet_buffers_percent", self.a.read_log())


if __name__ == "__main__":
    main()
