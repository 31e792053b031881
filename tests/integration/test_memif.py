#!/usr/bin/env python3
"""Two machnetd's joined by DPDK net_memif (shared memory, no namespaces, the fastest virtual
link): daemon A (10.77.0.11) owns the memif socket (role=server) and must be up first, daemon B
(10.77.0.12) connects to it (role=client). See docs/testing-topologies.md for the start order.

- both ports come up (link_up) once the client has attached, at MTU 9000 (the shipped "auto"
  on a memory link; the daemon adds bsize=9216 to the vdev so that a frame fits one ring buffer);
- hello_world from B to A;
- flow_check: 10 000 messages log-uniform from 1 B to 1 MiB plus three of 8 MiB, every byte
  checked both ways and in order, in frames of up to 9014 bytes whose payload the driver reads
  from the applications' channel buffers (zero copy, counted as tx_zero_copy); flows on both
  sides agree on the counts. With the shipped
  [transport] udp_checksum = "auto" the memif frames carry no UDP checksum (status says
  "none"), so this also checks that nothing relies on one there;
- udp_checksum = "always" on both sides: checksummed frames (copied, never zero copy), and
  messages up to 1 MiB cross, every byte checked; "always"
  against "auto": the "always" side drops the unchecksummed SYNs, counted as
  bad_udp_checksum, and the connect fails.

Needs root (DPDK)."""

import os
import time

from machnet_testlib import main, wait_for
from machnet_topology import (A_IP, B_IP, DATA_PATH_HINT, FLOW_CHECK, FLOW_PORT, HELLO_WORLD, Proc, TwoDaemonTest,
                              memif_vdev, port_toml)


class MemifTest(TwoDaemonTest):
    def setUp(self):
        super().setUp()
        sock = os.path.join(self.dir, "memif.sock")
        # Server role first: the client role's probe needs the socket to exist.
        self.a = self.start_daemon("a", port_toml(memif_vdev("server", sock), A_IP))
        self.b = self.start_daemon("b", port_toml(memif_vdev("client", sock), B_IP))

    def test_link_comes_up_on_both_sides(self):
        for d in (self.a, self.b):
            wait_for(lambda: d.ctl_json("status")["port"]["link_up"], 20, f"memif link up on daemon {d.name}")
            port = d.ctl_json("status")["port"]
            self.assertEqual(port["driver"], "net_memif")
            self.assertEqual(port["name"], "net_memif0")
            self.assertEqual(port["udp_checksum"], "none", "shipped udp_checksum = \"auto\" on a memory link")
            self.assertEqual(port["mtu"], 9000, "shipped mtu = \"auto\" on a memory link")
            self.assertIn(",bsize=9216", d.read_log(), "the vdev gains ring buffers that hold a 9014-byte frame")

    def test_hello_world_across(self):
        server = Proc(self, "hello-server", [HELLO_WORLD, "--local", A_IP], self.app_env(self.a))
        server.wait_line(r"^listening on ", 20)
        client = Proc(self, "hello-client", [HELLO_WORLD, "--local", B_IP, "--remote", A_IP], self.app_env(self.b))
        rc = client.finish(30)
        if rc != 0:
            self.fail(f"hello_world client exited {rc}: {client.text().strip()} ({DATA_PATH_HINT})")
        self.assertIn("reply: Hello World!", client.text())
        server.wait_line(r"^received: Hello World!$", 10)

    def test_flow_check_both_ways(self):
        server = self.flow_server(self.a, None, A_IP, seed=21)
        count = 10000

        def check_flows(summary):
            self.assert_flow_counts_match(self.b, self.a, B_IP, summary["src_port"], A_IP, FLOW_PORT, count)
            # Full segments went out of the applications' channel buffers without a copy
            # (net_memif, no checksum to compute): the bytes checked above are those.
            for d in (self.a, self.b):
                port = d.ctl_json("stats")["port"]
                self.assertGreater(port["tx_zero_copy"], 3 * (8 << 20) // 8924, f"daemon {d.name}: {port}")
                self.assertLess(port["tx_zero_copy"], port["tx_frames"])

        self.flow_client(self.b, None, B_IP, A_IP, count=count, seed=21, max_size=1 << 20, timeout_s=240,
                         extra=["--big", 3, "--big_size", 8 << 20], while_open=check_flows)
        self.assert_server_clean(server)

    def test_applications_killed_mid_message_leave_both_daemons_serving(self):
        """Zero copy sends full segments straight out of the sending application's channel
        buffers. An application killed while its 8 MiB messages are on their way takes that
        channel away: its engine must first copy out what is unacknowledged and flush every
        frame that points into the channel (the sanitizer suite's ASan sees a read of
        unmapped memory otherwise). Five times, each while frames are going out, then
        hello_world still crosses."""
        for i in range(5):
            port = FLOW_PORT + 1 + i  # a server of its own: flow_check's ends with its client's flow
            self.flow_server(self.a, None, A_IP, port=port, seed=23, name=f"server-{i}")
            before = self.b.ctl_json("stats")["port"]["tx_zero_copy"]
            client = Proc(self, f"client-{i}",
                          [FLOW_CHECK, "client", "--local_ip", B_IP, "--remote_ip", A_IP, "--port", port,
                           "--count", 40, "--seed", 23, "--max_size", 8 << 20, "--window", 4, "--big", 40,
                           "--big_size", 8 << 20, "--timeout_s", 60], self.app_env(self.b))
            wait_for(lambda: self.b.ctl_json("stats")["port"]["tx_zero_copy"] > before + 2000, 30,
                     f"client {i}'s zero-copy frames on their way")
            client.kill()
        for d in (self.a, self.b):
            self.assertIsNone(d.proc.poll(), f"daemon {d.name} exited: {d.read_log()[-2000:]}")
        self.test_hello_world_across()


class ChecksumMemifTest(TwoDaemonTest):
    """[transport] udp_checksum, the key under test, set on each side."""

    ALWAYS = 'udp_checksum = "always"'

    def start_pair(self, a_transport, b_transport):
        sock = os.path.join(self.dir, "memif.sock")
        self.a = self.start_daemon("a", port_toml(memif_vdev("server", sock), A_IP, transport=a_transport))
        self.b = self.start_daemon("b", port_toml(memif_vdev("client", sock), B_IP, transport=b_transport))
        for d in (self.a, self.b):
            wait_for(lambda: d.ctl_json("status")["port"]["link_up"], 20, f"memif link up on daemon {d.name}")

    def hello(self):
        server = Proc(self, "hello-server", [HELLO_WORLD, "--local", A_IP], self.app_env(self.a))
        server.wait_line(r"^listening on ", 20)
        client = Proc(self, "hello-client", [HELLO_WORLD, "--local", B_IP, "--remote", A_IP], self.app_env(self.b))
        return client.finish(30), client.text()

    def test_always_checksums_and_messages_cross(self):
        self.start_pair(self.ALWAYS, self.ALWAYS)
        for d in (self.a, self.b):
            self.assertEqual(d.ctl_json("status")["port"]["udp_checksum"], "software")
        rc, out = self.hello()
        self.assertEqual(rc, 0, out)
        self.assertIn("reply: Hello World!", out)
        server = self.flow_server(self.a, None, A_IP, seed=22)
        self.flow_client(self.b, None, B_IP, A_IP, count=20, seed=22, max_size=1 << 20, timeout_s=60)
        self.assert_server_clean(server)
        for d in (self.a, self.b):
            port = d.ctl_json("stats")["port"]
            self.assertEqual(port["drops"]["bad_udp_checksum"], 0)
            self.assertEqual(port["tx_zero_copy"], 0, "a checksum needs the payload: every frame is a copy")

    def test_always_against_auto_drops_and_counts(self):
        self.start_pair(self.ALWAYS, "")
        self.assertEqual(self.b.ctl_json("status")["port"]["udp_checksum"], "none")
        rc, out = self.hello()
        self.assertNotEqual(rc, 0, f"an unchecksummed SYN was taken by an \"always\" daemon: {out}")
        self.assertGreater(self.a.ctl_json("stats")["port"]["drops"]["bad_udp_checksum"], 0)


class BusyPollingMemifTest(TwoDaemonTest):
    """[engine] polling = "busy" on both daemons (the key under test): two engines that never
    sleep, the control threads and four apps on this machine's two cores. Spinning without
    ever yielding, the daemons starved everything else (263 msgs/s; under load no admin
    answer within 60 s); an idle poll now yields the core."""

    def setUp(self):
        super().setUp()
        sock = os.path.join(self.dir, "memif.sock")
        busy = '[engine]\npolling = "busy"\n'
        self.a = self.start_daemon("a", port_toml(memif_vdev("server", sock), A_IP, extra=busy))
        self.b = self.start_daemon("b", port_toml(memif_vdev("client", sock), B_IP, extra=busy))

    def test_busy_engines_share_the_cores(self):
        for d in (self.a, self.b):
            wait_for(lambda: d.ctl_json("status")["port"]["link_up"], 20, f"memif link up on daemon {d.name}")
        server = self.flow_server(self.a, None, A_IP, seed=5)
        started = time.monotonic()
        self.flow_client(self.b, None, B_IP, A_IP, count=2000, seed=5, max_size=64 << 10, timeout_s=60)
        # 1-2 s here with the yield, 22 s without it (same loaded machine, 2026-12-06).
        self.assertLess(time.monotonic() - started, 10)
        for d in (self.a, self.b):
            asked = time.monotonic()
            self.assertEqual(d.ctl_json("status")["state"], "running")
            self.assertLess(time.monotonic() - asked, 1.0, f"daemon {d.name} took over a second to answer")
        self.assert_server_clean(server)


if __name__ == "__main__":
    main()
