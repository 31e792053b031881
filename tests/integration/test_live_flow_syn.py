#!/usr/bin/env python3
"""A SYN with another conn_id on the ports of a live flow never ends it (issue 14, item 5;
docs/wire-protocol.md, "A SYN with another conn_id"). Two daemons over veth + net_af_packet
carry a flow_check transfer; from daemon A's namespace a raw AF_PACKET socket sends SYNs
that copy the flow's addresses and ports (as a delayed SYN of an earlier flow, or a forger
who guessed the port, would) with fresh conn_ids. Daemon B counts each as syn_on_live_flow
and answers with a challenge ACK; the transfer finishes byte-exact and in order, and no
application hears of a reset.

Shipped configuration apart from what a test topology needs (port, address, memory).
Needs root (skips otherwise)."""

import json
import textwrap

from machnet_testlib import main, wait_for
from machnet_topology import A_IP, B_IP, FLOW_CHECK, FLOW_PORT, Proc, TwoDaemonTest, af_packet_vdev, port_toml

SHIPPED_BUFFERS = 4096  # config/machnet.toml's buffers_per_channel
FORGED_SYNS = 5

# Runs in daemon A's namespace: SYNs from A's MAC/IP/port to B's, with random conn_ids.
SEND_SYNS = textwrap.dedent("""\
    import random, socket, struct, sys
    iface, src_mac, dst_mac, src_ip, dst_ip, sport, dport, count = sys.argv[1:9]
    def csum(b):
        if len(b) % 2: b += b"\\0"
        s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
        while s >> 16: s = (s & 0xffff) + (s >> 16)
        return (~s) & 0xffff
    ip = socket.inet_aton
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for _ in range(int(count)):
        # Machnet header: magic, version 1, flags SYN, conn_id, seq, ack, sack[2], tsval,
        # tsecr, window, reserved, msg_len (docs/wire-protocol.md).
        mn = struct.pack("!HBBIIIQQIIHHI", 0x4D4E, 1, 0x01, random.getrandbits(32), random.getrandbits(32),
                         0, 0, 0, 1, 0, 64, 0, 0)
        udp_len = 8 + len(mn)
        pseudo = ip(src_ip) + ip(dst_ip) + struct.pack("!BBH", 0, 17, udp_len)
        udp = struct.pack("!HHHH", int(sport), int(dport), udp_len, 0) + mn
        c = csum(pseudo + udp) or 0xffff
        udp = udp[:6] + struct.pack("!H", c) + udp[8:]
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 1, 0, 64, 17, 0, ip(src_ip), ip(dst_ip))
        hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
        s.send(bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) + b"\\x08\\x00" + hdr + udp)
    print("sent", count)
    """)


class LiveFlowSyn(TwoDaemonTest):
    def test_syns_with_other_conn_ids_do_not_reset_a_live_flow(self):
        topo = self.topology()
        a = self.start_daemon("a", port_toml(af_packet_vdev(topo.if_a), A_IP, buffers_per_channel=SHIPPED_BUFFERS),
                              netns=topo.ns_a)
        b = self.start_daemon("b", port_toml(af_packet_vdev(topo.if_b), B_IP, buffers_per_channel=SHIPPED_BUFFERS),
                              netns=topo.ns_b)
        server = self.flow_server(b, topo.ns_b, B_IP, seed=21)
        count = 30000
        client = Proc(self, "client", [FLOW_CHECK, "client", "--local_ip", A_IP, "--remote_ip", B_IP,
                                       "--port", FLOW_PORT, "--count", count, "--seed", 21, "--max_size", 65536,
                                       "--window", 16, "--timeout_s", 200, "--linger_s", 60],
                      self.app_env(a), topo.ns_a)
        flow = wait_for(lambda: next((f for f in self.flows(a) if f.get("state") == "established"
                                      and f.get("tx_msgs", 0) > 100), None), 60, "the flow to carry messages")
        mac_a, mac_b = a.ctl_json("status")["port"]["mac"], b.ctl_json("status")["port"]["mac"]
        before = b.ctl_json("stats")["port"]["drops"]
        out = topo.exec_in(topo.ns_a, "python3", "-c", SEND_SYNS, topo.if_a, mac_a, mac_b, A_IP, B_IP,
                           flow["local_port"], FLOW_PORT, FORGED_SYNS).stdout
        self.assertIn(f"sent {FORGED_SYNS}", out)
        after = next(f for f in self.flows(a) if f.get("local_port") == flow["local_port"])
        self.assertLess(after["tx_msgs"], count, "the SYNs must come mid-transfer")

        client.wait_line(r'"role":"client"', 230)
        summary = [j for j in client.json_lines() if j.get("role") == "client"][-1]
        print(json.dumps(summary))
        self.assertTrue(summary["ok"], summary["error"])
        self.assertEqual(summary["messages"], count)
        self.assertEqual(summary["errors"], 0)
        self.assert_server_clean(server)
        # The same flow, never reset, on both sides; every message counted once each way.
        cf, sf = self.assert_flow_counts_match(a, b, A_IP, flow["local_port"], B_IP, FLOW_PORT, count)
        self.assertNotIn("reset", [f.get("state") for f in self.flows(a) + self.flows(b)])
        self.assertNotIn("ECONNRESET", server.text())
        wait_for(lambda: b.ctl_json("stats")["port"]["drops"]["syn_on_live_flow"]
                 >= before["syn_on_live_flow"] + FORGED_SYNS, 10, "daemon B to count the SYNs on the live flow")


if __name__ == "__main__":
    main()
