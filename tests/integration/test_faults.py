#!/usr/bin/env python3
"""Flows that survive a bad wire. Two machnetd's on net_af_packet, every byte checked both
ways and in order by flow_check (the server checks A to B, the echo checks B to A), and the
transport's retransmissions reported from `machnetctl flows --json` (printed in the log).

- a wire namespace between the ends (scripts/topology.sh --wire; nftables netdev rules) with
  5 % loss + 1 % duplication + 0.1 % corruption of one payload byte, 20 000 messages;
- the same wire with 20 % loss, 2 000 messages;
- a plain veth with the daemons' own test-only fault injection ([testing] tx_reorder,
  tx_delay_us, seeded), 5 000 messages;
- ARP lost on the wire for longer than 5 requests (1 s): the connect keeps asking for as long
  as connect_timeout_ms allows and succeeds once the wire lets ARP through;
- a receiver that stops reading for a while: the sender gets backpressure (machnet_send -1
  with EAGAIN/ENOBUFS, retried), neither daemon's RSS grows, another application pair's
  flow between the same daemons delivers all its messages meanwhile, and when the receiver
  resumes every message arrives.

Message sizes here are log-uniform from 1 B to 64 KiB (not 8 MiB as in test_two_daemons) so
that the whole file runs in a few minutes on two cores under loss. Needs root."""

import json
import re
import threading
import time

from machnet_testlib import main, wait_for
from machnet_topology import A_IP, B_IP, FLOW_PORT, TwoDaemonTest, rss_kib

MAX_SIZE = 64 << 10


class FaultsTest(TwoDaemonTest):
    def run_checked(self, a, b, topo, count, seed, timeout_s, window=32):
        """flow_check from A to B; prints and returns (summary, client-side flow, server-side flow)."""
        server = self.flow_server(b, topo.ns_b, B_IP, seed=seed)
        seen = {}

        def read_flows(summary):
            seen["flows"] = self.assert_flow_counts_match(a, b, A_IP, summary["src_port"], B_IP, FLOW_PORT, count)

        summary = self.flow_client(a, topo.ns_a, A_IP, B_IP, count=count, seed=seed, max_size=MAX_SIZE,
                                   window=window, timeout_s=timeout_s, while_open=read_flows)
        self.assert_server_clean(server)
        cf, sf = seen["flows"]
        report = {
            "messages": summary["messages"], "bytes": summary["bytes"], "seconds": summary["seconds"],
            "retransmissions_a": cf.get("retransmissions"), "retransmissions_b": sf.get("retransmissions"),
            "tx_packets_a": cf.get("tx_packets"), "tx_packets_b": sf.get("tx_packets"),
            "srtt_us_a": cf.get("srtt_us"), "cwnd_a": cf.get("cwnd"),
            "wire": topo.wire_counters(),
            "drops_a": a.ctl_json("stats")["port"].get("drops"), "drops_b": b.ctl_json("stats")["port"].get("drops"),
        }
        print("fault run: " + json.dumps(report))
        return summary, cf, sf

    def test_wire_with_loss_duplication_and_corruption(self):
        topo = self.topology(loss=5, dup=1, corrupt=0.1)
        a, b = self.start_pair(topo)
        _, cf, sf = self.run_checked(a, b, topo, count=20000, seed=41, timeout_s=400)
        wire = topo.wire_counters()
        self.assertGreater(wire["from_a"]["drop"] + wire["from_b"]["drop"], 0, wire)
        self.assertGreater(wire["from_a"]["dup"] + wire["from_b"]["dup"], 0, wire)
        self.assertGreater(cf["retransmissions"] + sf["retransmissions"], 0, "5 % loss without a retransmission?")

    def test_wire_with_heavy_loss(self):
        topo = self.topology(loss=20)
        a, b = self.start_pair(topo)
        _, cf, sf = self.run_checked(a, b, topo, count=2000, seed=42, timeout_s=300)
        self.assertGreater(cf["retransmissions"] + sf["retransmissions"], 0)

    def test_connect_outlasts_a_second_of_lost_arp(self):
        topo = self.topology(wire=True)
        a, b = self.start_pair(topo)
        self.flow_server(b, topo.ns_b, B_IP, seed=46)
        # Every ARP frame from A is dropped (and counted) until the rule is deleted.
        topo.exec_in(topo.ns_w, "nft", "add", "counter", "netdev", "wire", "arp_lost")
        echo = topo.exec_in(topo.ns_w, "nft", "--echo", "--handle", "insert", "rule", "netdev", "wire", "from_a",
                            "ether", "type", "arp", "counter", "name", "arp_lost", "drop").stdout
        handle = re.search(r"# handle (\d+)", echo).group(1)

        def arp_lost():
            listing = json.loads(topo.exec_in(topo.ns_w, "nft", "-j", "list", "counter", "netdev", "wire",
                                              "arp_lost").stdout)
            return next(i["counter"]["packets"] for i in listing["nftables"] if "counter" in i)

        probe = {}
        connect = threading.Thread(target=lambda: probe.update(self.connect_probe(a, topo.ns_a, A_IP, B_IP, FLOW_PORT)))
        connect.start()
        try:
            # Six requests lost: one more than the daemon used to send before it gave up.
            wait_for(lambda: arp_lost() >= 6 or not connect.is_alive(), 10, "six lost ARP requests")
            lost = arp_lost()
        finally:
            topo.exec_in(topo.ns_w, "nft", "delete", "rule", "netdev", "wire", "from_a", "handle", handle)
            connect.join(30)
        self.assertGreaterEqual(lost, 6, f"the connect ended after {lost} ARP requests: {probe}")
        self.assertTrue(probe.get("ok"), f"connect failed after {lost} lost ARP requests: {probe}")
        self.assertLess(probe["seconds"], 2.5, "connect_timeout_ms is 2000")

    def test_daemon_reorder_and_delay(self):
        topo = self.topology()
        faults = {"fault_seed": 43, "tx_reorder": 0.05, "tx_delay_us": 200}
        try:
            a, b = self.start_pair(topo, faults=faults)
        except AssertionError as e:
            self.fail(f"machnetd did not start with [testing] {faults} (fault injection not built yet?):\n{e}")
        self.run_checked(a, b, topo, count=5000, seed=43, timeout_s=300)

    def test_receiver_that_stops_reading(self):
        topo = self.topology()
        # Small channels (4 MiB each) so that backpressure comes quickly.
        a, b = self.start_pair(topo, buffers_per_channel=1024)
        pause_s = 6.0
        server = self.flow_server(b, topo.ns_b, B_IP, seed=44,
                                  extra=["--pause_after", 200, "--pause_s", pause_s])
        # Another application pair on its own flow, to show a stalled receiver holds back
        # only its own sender.
        other_server = self.flow_server(b, topo.ns_b, B_IP, port=FLOW_PORT + 1, seed=45, name="server2")
        samples = []  # (seconds into the pause, rss A KiB, rss B KiB)
        other = {}

        def during_pause():
            server.wait_line(r"^paused after", 120)
            t0 = time.monotonic()
            other["summary"] = self.flow_client(a, topo.ns_a, A_IP, B_IP, count=500, seed=45, port=FLOW_PORT + 1,
                                                max_size=MAX_SIZE, timeout_s=60, name="client2")
            other["during_pause"] = "resumed" not in server.text()
            other_server.kill()
            while "resumed" not in server.text():
                samples.append((round(time.monotonic() - t0, 2), rss_kib(a.proc.pid), rss_kib(b.proc.pid)))
                if time.monotonic() - t0 > pause_s + 20:
                    self.fail("the server never resumed")
                time.sleep(0.25)  # sampling interval, not synchronisation

        sampler_error = []

        def sampler():
            try:
                during_pause()
            except BaseException as e:  # reported after the client finishes
                sampler_error.append(e)

        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        summary = self.flow_client(a, topo.ns_a, A_IP, B_IP, count=5000, seed=44, max_size=MAX_SIZE,
                                   window=1000000, timeout_s=120)
        thread.join(pause_s + 30)
        if sampler_error:
            raise sampler_error[0]
        print(f"RSS samples during the pause (s, KiB A, KiB B): {samples}")
        self.assertGreater(summary["backpressure"], 0, "the sender never saw EAGAIN/ENOBUFS while the receiver slept")
        self.assertTrue(other.get("during_pause"),
                        f"another flow must get all its messages through while one receiver sleeps: {other}")
        self.assertGreater(summary["longest_stall_s"], pause_s / 3, summary)
        # Flat: after the first second of the pause neither daemon grows by more than 16 MiB.
        settled = [s for s in samples if s[0] >= 1.0]
        self.assertTrue(settled, samples)
        for i, who in ((1, "A"), (2, "B")):
            growth = max(s[i] for s in settled) - settled[0][i]
            self.assertLess(growth, 16 << 10, f"daemon {who} RSS grew {growth} KiB while the receiver slept: {samples}")
        self.assert_server_clean(server)


if __name__ == "__main__":
    main()
