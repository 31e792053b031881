#!/usr/bin/env python3
"""0-byte messages (issue 14, item 2): machnet_send accepts them and the peer receives them as
0-byte messages, in order with the others, and the flow keeps working (machnet.h,
docs/wire-protocol.md). empty_message (tests/tools) sends rounds of 0, 1, 0, 0 and 3000
bytes, one at a time, and checks every echo's size and bytes:

- local delivery: client and server on one daemon ([nic] mode = "none");
- across the wire: two daemons over veth + net_af_packet; both daemons' flows count the
  messages each way and neither drops a packet as bad_machnet_header.

Shipped configuration apart from what a test topology needs (port, address, memory).
Needs root for the wire (skips otherwise)."""

import json
import os

from machnet_testlib import Proc, TempDirTest, main, wait_for
from machnet_topology import A_IP, B_IP, FLOW_PORT, TwoDaemonTest, af_packet_vdev, port_toml

EMPTY_MESSAGE = os.environ.get("EMPTY_MESSAGE", "empty_message")
ROUNDS = 20
PER_ROUND = 5  # 0, 1, 0, 0, 3000 bytes
EMPTY_PER_ROUND = 3
SHIPPED_BUFFERS = 4096  # config/machnet.toml's buffers_per_channel


def client_summary(test, proc, lingering=False):
    if lingering:
        try:
            proc.wait_line(r'"role":"client"', 60)
        except AssertionError:
            pass  # exited early: reported below
    rc = proc.proc.poll() if lingering else proc.finish(60)
    lines = [j for j in proc.json_lines() if j.get("role") == "client"]
    test.assertTrue(lines, f"empty_message client printed no summary (exit {rc}):\n{proc.text()[-2000:]}")
    summary = lines[-1]
    print(json.dumps(summary))
    test.assertTrue(summary["ok"], summary["error"])
    test.assertIn(rc, (0, None) if lingering else (0,))
    test.assertEqual(summary["echoes"], ROUNDS * PER_ROUND)
    test.assertEqual(summary["empty_echoes"], ROUNDS * EMPTY_PER_ROUND)
    return summary


class LocalEmptyMessages(TempDirTest):
    def test_empty_then_one_byte_messages_locally(self):
        d = self.daemon('[nic]\nmode = "none"\n').start()
        env = dict(os.environ, MACHNET_SOCKET=d.app_socket)
        server = Proc(self, "server", [EMPTY_MESSAGE, "server", "--local_ip", "127.0.0.1", "--port", FLOW_PORT], env)
        server.wait_line(r"^listening on ", 20)
        client = Proc(self, "client", [EMPTY_MESSAGE, "client", "--local_ip", "127.0.0.1", "--remote_ip",
                                       "127.0.0.1", "--port", FLOW_PORT, "--rounds", ROUNDS], env)
        client_summary(self, client)
        self.assertEqual(len([j for j in server.json_lines() if j.get("event") == "echo" and j["bytes"] == 0]),
                         ROUNDS * EMPTY_PER_ROUND)


class RemoteEmptyMessages(TwoDaemonTest):
    def test_empty_then_one_byte_messages_across_the_wire(self):
        topo = self.topology()
        a = self.start_daemon("a", port_toml(af_packet_vdev(topo.if_a), A_IP, buffers_per_channel=SHIPPED_BUFFERS),
                              netns=topo.ns_a)
        b = self.start_daemon("b", port_toml(af_packet_vdev(topo.if_b), B_IP, buffers_per_channel=SHIPPED_BUFFERS),
                              netns=topo.ns_b)
        server = Proc(self, "server", [EMPTY_MESSAGE, "server", "--local_ip", B_IP, "--port", FLOW_PORT],
                      self.app_env(b), topo.ns_b)
        server.wait_line(r"^listening on ", 20)
        # The client keeps its flow open after its summary, so both ends' counts can be read.
        client = Proc(self, "client", [EMPTY_MESSAGE, "client", "--local_ip", A_IP, "--remote_ip", B_IP,
                                       "--port", FLOW_PORT, "--rounds", ROUNDS, "--linger_s", 60],
                      self.app_env(a), topo.ns_a)
        summary = client_summary(self, client, lingering=True)
        total = ROUNDS * PER_ROUND
        # Every message, 0-byte ones included, counted once each way by both transports.
        cf, sf = self.assert_flow_counts_match(a, b, A_IP, summary["src_port"], B_IP, FLOW_PORT, total)
        for f in (cf, sf):
            self.assertEqual(f["protocol_errors"], 0, f)
        for d in (a, b):
            drops = d.ctl_json("stats")["port"]["drops"]
            self.assertEqual(drops["bad_machnet_header"], 0, f"daemon {d.name} dropped packets as malformed: {drops}")
        self.assertEqual(len([j for j in server.json_lines() if j.get("event") == "echo"]), total)


if __name__ == "__main__":
    main()
