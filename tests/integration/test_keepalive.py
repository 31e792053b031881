#!/usr/bin/env python3
"""Keepalive (issue 14, item 9/10: half-open and idle flows): two daemons over veth +
net_af_packet with [transport] keepalive_ms = 1000 and give_up_ms = 2000 (the keys under
test; the shipped 15 s + 30 s would only make the test slow). A flow carries a few messages
and then idles: while the peer answers it stays established on both sides, for several
keepalive periods. Then the peer daemon is killed (nothing says goodbye): the idle flow is
reset within keepalive_ms + give_up_ms and listed as such, with the key in the reason.

Shipped configuration otherwise, apart from what a test topology needs (port, address,
memory). Needs root (skips otherwise)."""

import time

from machnet_testlib import main, wait_for
from machnet_topology import A_IP, B_IP, FLOW_PORT, TwoDaemonTest, af_packet_vdev, port_toml

SHIPPED_BUFFERS = 4096  # config/machnet.toml's buffers_per_channel
KEYS = "keepalive_ms = 1000\ngive_up_ms = 2000\n"


class Keepalive(TwoDaemonTest):
    def test_an_idle_flow_lives_while_the_peer_answers_and_is_reset_when_it_vanishes(self):
        topo = self.topology()
        a = self.start_daemon("a", port_toml(af_packet_vdev(topo.if_a), A_IP, buffers_per_channel=SHIPPED_BUFFERS,
                                             extra=KEYS), netns=topo.ns_a)
        b = self.start_daemon("b", port_toml(af_packet_vdev(topo.if_b), B_IP, buffers_per_channel=SHIPPED_BUFFERS,
                                             extra=KEYS), netns=topo.ns_b)
        self.flow_server(b, topo.ns_b, B_IP, seed=41)
        idle_checked = {}

        def idle_then_check(summary):
            time.sleep(4.5)  # four keepalive periods with nothing to send either way
            client_flow = self.flow_between(a, A_IP, summary["src_port"], B_IP, FLOW_PORT)
            server_flow = self.flow_between(b, B_IP, FLOW_PORT, A_IP, summary["src_port"])
            self.assertIsNotNone(client_flow, "the idle flow on the client's daemon")
            self.assertIsNotNone(server_flow, "the idle flow on the server's daemon")
            self.assertEqual(client_flow["state"], "established", client_flow)
            self.assertEqual(server_flow["state"], "established", server_flow)
            self.assertEqual(client_flow["rx_msgs"], 50)
            # Now the peer vanishes while the flow is idle.
            b.proc.kill()
            b.proc.wait()
            killed = time.monotonic()
            row = wait_for(lambda: next((f for f in self.flows(a) if f.get("state") == "reset"), None), 10,
                           "the idle flow to be reset after its peer vanished")
            idle_checked["seconds"] = time.monotonic() - killed
            idle_checked["row"] = row

        self.flow_client(a, topo.ns_a, A_IP, B_IP, count=50, seed=41, max_size=4096, while_open=idle_then_check)
        print(f"reset {idle_checked['seconds']:.2f} s after the peer was killed: {idle_checked['row']}")
        self.assertIn("give_up_ms", idle_checked["row"]["error"])
        self.assertLess(idle_checked["seconds"], 1.0 + 2.0 + 1.5, "keepalive_ms + give_up_ms, and some slack")


if __name__ == "__main__":
    main()
