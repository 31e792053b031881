#!/usr/bin/env python3
"""A slow reader holds its sender without collapsing the sender's congestion window
(issue 14, item 6), with the shipped [channels] settings.

Two machnetd's over veth + net_af_packet. flow_check's server in P-b stops reading for 2 s
after 300 echoes (--pause_after/--pause_s) while the client in P-a keeps up to 256 messages
of up to 1 MiB in flight (its channel's 8 MiB send room is the real limit). The server's
receive room (8 MiB) fills, its window closes, and the client's daemon must wait in persist
(probes), not time out:
- during the pause `machnetctl flows` on the client's side shows RWND (peer_window) 0 and
  the flow established, window probes counted, no retransmission timeout counted (a clean
  link), and cwnd neither cut nor at the floor;
- after the pause everything arrives, in order, every byte checked.
(That the rate is back within a few round trips is checked on the simulated wire,
daemon/transport/flow_window_test.cc: here the machine's load makes rates too noisy.)
Needs root; skips otherwise."""

import time

from machnet_testlib import main, wait_for
from machnet_topology import A_IP, B_IP, FLOW_CHECK, FLOW_PORT, Proc, TwoDaemonTest

PAUSE_S = 2.0
MIN_WINDOW = 2  # [transport] min_window, shipped


class SlowReaderTest(TwoDaemonTest):
    def setUp(self):
        super().setUp()
        self.topo = self.topology()
        self.a, self.b = self.start_pair(self.topo, buffers_per_channel=None)

    def client_flow(self):
        rows = [f for f in self.flows(self.a) if f.get("remote_port") == FLOW_PORT and "cwnd" in f]
        return rows[0] if rows else None

    def test_paused_reader_keeps_the_senders_window(self):
        server = Proc(self, "server", [FLOW_CHECK, "server", "--local_ip", B_IP, "--port", FLOW_PORT, "--seed", 7,
                                       "--pause_after", 300, "--pause_s", PAUSE_S], self.app_env(self.b), self.topo.ns_b)
        server.wait_line(r"^listening on ", 20)
        client = Proc(self, "client", [FLOW_CHECK, "client", "--local_ip", A_IP, "--remote_ip", B_IP,
                                       "--port", FLOW_PORT, "--count", 3000, "--seed", 7, "--max_size", 1 << 20,
                                       "--window", 256, "--timeout_s", 60], self.app_env(self.a), self.topo.ns_a)
        server.wait_line(r"^paused after", 30)
        # The room fills and the window closes.
        held = wait_for(lambda: (lambda f: f if f and f.get("peer_window") == 0 else None)(self.client_flow()), 1.2,
                        "the sender to see a closed window (RWND 0)", interval=0.02)
        print(f"during the pause: {held}")
        self.assertEqual(held["state"], "established")
        rto_at_pause = held["rto_timeouts"]
        cwnd_at_pause = held["cwnd"]
        time.sleep(0.6)
        late = self.client_flow()
        print(f"late in the pause: {late}")
        self.assertEqual(late["state"], "established")
        self.assertEqual(late["rto_timeouts"], rto_at_pause, "a closed window must not count as timeouts")
        self.assertGreater(late["window_probes"], 0, "the sender should probe the closed window")
        self.assertGreaterEqual(late["cwnd"], cwnd_at_pause, "the congestion window was cut while held")
        self.assertGreater(late["cwnd"], MIN_WINDOW, "the congestion window collapsed to its floor")
        server.wait_line(r"^resumed", 10)
        rc = client.finish(60)
        self.assertEqual(rc, 0, client.text()[-2000:])
        self.assert_server_clean(server)
        summary = [j for j in client.json_lines() if j.get("role") == "client"][-1]
        print(f"client: {summary}")
        self.assertEqual(summary["errors"], 0)


if __name__ == "__main__":
    main()
