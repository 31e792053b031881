#!/usr/bin/env python3
"""Closing a flow right after sending (issue 14, items 3 and 4; docs/wire-protocol.md "Close").
Two machnetd's over veth + af_packet, the shipped configuration (only the port, the address
and connect_timeout_ms differ, as in every two-daemon test).

- close_check sender in P-a sends N messages (1 B .. 64 KiB) and calls machnet_close_flow
  at once after the last, while most are still queued or in flight; close_check receiver in
  P-b gets all N, byte-exact and in order, and neither application hears any error
  (no ECONNRESET, no EPIPE); both daemons then forget the flow, and neither lists it as
  reset.
- the same with every pure ACK from P-a to P-b dropped in a third "wire" namespace
  (nftables netdev table "wire", TEST-RECIPES.md): P-a sends no pure ACK during the
  transfer (it only sends data), so what is dropped is the final ACK of the close and every
  repetition of it from P-a's time-wait. The close still ends in order on both sides.

Needs root; skips otherwise."""

import json
import os
import re

from machnet_testlib import main, wait_for
from machnet_topology import A_IP, B_IP, FLOW_PORT, Proc, TwoDaemonTest, af_packet_vdev, port_toml

CLOSE_CHECK = os.environ.get("CLOSE_CHECK", "close_check")
COUNT = 2000
# Machnet header flags (offset 3 after the 8-byte UDP header: bit 88 of the transport
# header) equal to ACK alone: a pure ACK.
PURE_ACK_RULE = ["ip", "protocol", "udp", "@th,88,8", "0x04", "counter", "drop"]


class Close(TwoDaemonTest):
    def start(self, wire):
        topo = self.topology(wire=wire)
        # buffers_per_channel=None: the shipped value, as users have it.
        a = self.start_daemon("a", port_toml(af_packet_vdev(topo.if_a), A_IP, buffers_per_channel=None),
                              netns=topo.ns_a)
        b = self.start_daemon("b", port_toml(af_packet_vdev(topo.if_b), B_IP, buffers_per_channel=None),
                              netns=topo.ns_b)
        return topo, a, b

    def summary(self, proc, role, timeout):
        proc.wait_line(rf'"role":"{role}"', timeout)
        return [j for j in proc.json_lines() if j.get("role") == role][-1]

    def close_right_after_sending(self, topo, a, b, while_sending=None):
        receiver = Proc(self, "receiver", [CLOSE_CHECK, "receiver", "--local_ip", B_IP, "--port", FLOW_PORT,
                                           "--count", COUNT, "--linger_s", 3], self.app_env(b), topo.ns_b)
        receiver.wait_line(r"^listening on ", 20)
        sender = Proc(self, "sender", [CLOSE_CHECK, "sender", "--local_ip", A_IP, "--remote_ip", B_IP,
                                       "--port", FLOW_PORT, "--count", COUNT, "--linger_s", 3],
                      self.app_env(a), topo.ns_a)
        if while_sending:
            while_sending()
        sent = self.summary(sender, "sender", 120)
        got = self.summary(receiver, "receiver", 120)
        print(f"sender: {json.dumps(sent)}\nreceiver: {json.dumps(got)}")
        self.assertEqual(sent["sent"], COUNT)
        self.assertEqual(sent["close_rc"], 0)
        self.assertEqual(got["received"], COUNT, "the receiver must get every message sent before the close")
        self.assertEqual(got["errors"], 0, "messages arrived wrong or out of order")
        self.assertEqual(sent["recv_errors"], 0, f"the closing side heard an error: {sender.text()[-1000:]}")
        self.assertEqual(got["recv_errors"], 0, f"the receiving side heard an error: {receiver.text()[-1000:]}")
        self.assertTrue(sent["ok"] and got["ok"])
        # Both daemons forget the flow in order (after the time-wait), never as a reset.
        for d in (a, b):
            wait_for(lambda: not [f for f in self.flows(d) if FLOW_PORT in (f.get("local_port"), f.get("remote_port"))
                                  and f.get("state") != "reset"], 10, f"daemon {d.name} to forget the flow", interval=0.2)
            resets = [f for f in self.flows(d) if f.get("state") == "reset"]
            self.assertFalse(resets, f"daemon {d.name} ended the flow with a reset: {resets}")

    def test_send_n_and_close_at_once_the_peer_receives_all_n_then_the_close(self):
        topo, a, b = self.start(wire=False)
        self.close_right_after_sending(topo, a, b)

    def test_final_ack_lost_both_sides_still_close_in_order(self):
        topo, a, b = self.start(wire=True)

        def drop_pure_acks_from_a():
            # After the handshake (its last packet is a pure ACK from the client).
            wait_for(lambda: any(f.get("state") == "established" for f in self.flows(a)), 30,
                     "the flow to be established", interval=0.05)
            out = topo.exec_in(topo.ns_w, "nft", "--echo", "--handle", "insert", "rule", "netdev", "wire",
                               "from_a", *PURE_ACK_RULE).stdout
            self.handle = re.search(r"# handle (\d+)", out).group(1)

        self.close_right_after_sending(topo, a, b, while_sending=drop_pure_acks_from_a)
        listing = json.loads(topo.exec_in(topo.ns_w, "nft", "-j", "-a", "list", "table", "netdev", "wire").stdout)
        dropped = sum(next(e["counter"]["packets"] for e in item["rule"]["expr"] if "counter" in e)
                      for item in listing["nftables"]
                      if "rule" in item and str(item["rule"].get("handle")) == self.handle)
        print(f"pure ACKs from a dropped: {dropped}")
        self.assertGreaterEqual(dropped, 1, "the final ACK must have been dropped")


if __name__ == "__main__":
    main()
