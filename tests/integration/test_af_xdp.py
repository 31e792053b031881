#!/usr/bin/env python3
"""machnetd on DPDK net_af_xdp (native XDP on a veth end, scripts/topology.sh), where the
kernel can make AF_XDP sockets and DPDK has the driver; skipped with the reason otherwise.

- one daemon answers the other namespace's kernel ping, and a clean stop detaches its XDP
  program (works today);
- after kill -9 the program may stay attached: the cleanup (topology.sh down) removes it;
- two daemons on af_xdp: hello_world and flow_check (2 000 messages log-uniform from 1 B to
  1 MiB, plus one of 8 MiB), every byte checked both ways and in order.

Needs root."""

import json
import signal
import unittest

from machnet_testlib import main
from machnet_topology import (A_IP, B_IP, DATA_PATH_HINT, HELLO_WORLD, Proc, TwoDaemonTest, af_xdp_unsupported_reason,
                              af_xdp_vdev, port_toml, sh)


class AfXdpTest(TwoDaemonTest):
    def setUp(self):
        super().setUp()
        reason = af_xdp_unsupported_reason()
        if reason:
            raise unittest.SkipTest(reason)
        self.topo = self.topology()
        # Whatever happens to the daemons, no XDP program outlives the test.
        self.addCleanup(self.detach_xdp)

    def detach_xdp(self):
        for ns, dev in ((self.topo.ns_a, self.topo.if_a), (self.topo.ns_b, self.topo.if_b)):
            sh("ip", "-n", ns, "link", "set", "dev", dev, "xdp", "off", check=False)

    def start_a(self):
        return self.start_daemon("a", port_toml(af_xdp_vdev(self.topo.if_a), A_IP), netns=self.topo.ns_a)

    def test_daemon_answers_ping_and_detaches_xdp_on_stop(self):
        a = self.start_a()
        port = a.ctl_json("status")["port"]
        self.assertEqual(port["driver"], "net_af_xdp")
        self.assertIn(self.topo.if_a, self.topo.xdp_attached(), "no XDP program on the daemon's interface")
        result = self.topo.exec_in(self.topo.ns_b, "ping", "-c", "3", "-i", "0.2", "-W", "2", A_IP, check=False)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertGreaterEqual(a.ctl_json("stats")["port"]["icmp_echo_answered"], 3)
        self.assertEqual(a.stop(), 0)
        self.assertEqual(self.topo.xdp_attached(), [], "a clean stop must detach the XDP program")

    def test_kill9_then_cleanup_removes_xdp(self):
        a = self.start_a()
        a.signal(signal.SIGKILL)
        a.proc.wait(10)
        print(f"after kill -9, XDP attached on: {self.topo.xdp_attached()}")
        self.detach_xdp()
        self.assertEqual(self.topo.xdp_attached(), [])
        self.topo.down()
        names = sh("ip", "netns", "list").stdout
        self.assertNotIn(self.topo.ns_a, names)
        self.assertNotIn(self.topo.ns_b, names)

    def test_flow_check_both_ways(self):
        a, b = self.start_pair(self.topo, driver="af_xdp")
        hello_server = Proc(self, "hello-server", [HELLO_WORLD, "--local", B_IP], self.app_env(b), self.topo.ns_b)
        hello_server.wait_line(r"^listening on ", 20)
        hello = Proc(self, "hello-client", [HELLO_WORLD, "--local", A_IP, "--remote", B_IP], self.app_env(a),
                     self.topo.ns_a)
        if hello.finish(30) != 0:
            self.fail(f"hello_world over af_xdp: {hello.text().strip()} ({DATA_PATH_HINT})")
        server = self.flow_server(b, self.topo.ns_b, B_IP, seed=31)
        summary = self.flow_client(a, self.topo.ns_a, A_IP, B_IP, count=2000, seed=31, max_size=1 << 20,
                                   timeout_s=180, extra=["--big", 1, "--big_size", 8 << 20])
        print(json.dumps(summary))
        self.assert_server_clean(server)


if __name__ == "__main__":
    main()
