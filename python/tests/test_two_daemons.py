"""Python across the wire: two machnetd's in two network namespaces (af_packet over a veth,
tests/lib/machnet_topology.py); the example echo server runs behind daemon B, and a Python
client behind daemon A sends 1 B .. 8 MiB and checks every echo byte-exact; then the README's
echo client runs as written. Needs root (namespaces, DPDK): skipped otherwise."""

from __future__ import annotations

import json
import os
import sys

from machnet_topology import A_IP, B_IP, Proc, TwoDaemonTest

from conftest import EXAMPLES, PEER

PORT = 7000


class PythonAcrossDaemonsTest(TwoDaemonTest):
    def _dump_log_on_failure(self, d) -> None:
        """Under pytest the unittest result has no failure list: print the daemon's log
        always; pytest shows captured output only when the test failed."""
        print(f"--- {d.name} log ---\n{d.read_log()[-4000:]}")
    def test_sizes_byte_exact_and_the_echo_example(self) -> None:
        topo = self.topology()
        a, b = self.start_pair(topo)
        server = Proc(self, "py-echo-server", [sys.executable, os.path.join(EXAMPLES, "echo_server.py"), B_IP, PORT],
                      self.app_env(b), topo.ns_b)
        server.wait_line(r"^listening on ", 30)
        client = Proc(self, "py-sizes", [sys.executable, PEER, "sizes", "--local_ip", A_IP, "--remote_ip", B_IP,
                                         "--port", PORT], self.app_env(a), topo.ns_a)
        rc = client.finish(180)
        self.assertEqual(rc, 0, client.text()[-3000:])
        summary = json.loads(client.text().strip().splitlines()[-1])
        self.assertTrue(summary["ok"], summary)
        self.assertEqual(summary["messages"], 11)
        example = Proc(self, "py-echo-client", [sys.executable, os.path.join(EXAMPLES, "echo_client.py"), A_IP, B_IP,
                                                PORT, "across"], self.app_env(a), topo.ns_a)
        self.assertEqual(example.finish(30), 0, example.text())
        self.assertIn("reply: across", example.text())
