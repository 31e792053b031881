#!/usr/bin/env python3
"""Graceful stop (issue 14 item 11): SIGTERM to a daemon that is sending.

Two daemons over veth + af_packet with the shipped configuration (only [daemon]
stop_drain_ms changes, in the test that is about it). stop_check sends from P-a to a
counting receiver in P-b; the sending daemon gets SIGTERM mid-transfer:

- everything machnet_send accepted before the stop arrives, in order, exactly once, and the
  sender hears ENETDOWN (all delivered); its next send fails with ESHUTDOWN; the daemon exits
  within stop_drain_ms plus a margin;
- a receiver that stops reading holds data in flight: after stop_drain_ms (1 s here) the
  daemon resets the flow, the sender hears ECONNABORTED (not everything arrived), the
  receiver got no more than was accepted and nothing out of order;
- a daemon with nothing in flight stops at once, not after the drain time.

Needs root; skips otherwise."""

import json
import signal
import time

from machnet_testlib import main, wait_for
from machnet_topology import A_IP, B_IP, FLOW_PORT, Proc, TwoDaemonTest, af_packet_vdev, port_toml

import os

STOP_CHECK = os.environ.get("STOP_CHECK", "stop_check")
SHIPPED_DRAIN_MS = 5000  # config/machnet.toml [daemon] stop_drain_ms
# Teardown after the drain (EAL, port) on a shared 2-core machine.
EXIT_MARGIN_S = 3.0


class GracefulStopTest(TwoDaemonTest):
    def start(self, daemon_toml=""):
        self.topo = self.topology()
        # The shipped [channels] too: buffers_per_channel=None keeps config/machnet.toml's.
        self.a = self.daemon(port_toml(af_packet_vdev(self.topo.if_a), A_IP, buffers_per_channel=None), name="a",
                             netns=self.topo.ns_a, daemon_toml=daemon_toml)
        self.addCleanup(self._dump_log_on_failure, self.a)
        self.a.start(timeout=90)
        self.b = self.start_daemon("b", port_toml(af_packet_vdev(self.topo.if_b), B_IP, buffers_per_channel=None),
                                   netns=self.topo.ns_b)

    def receiver(self, *extra):
        r = Proc(self, "recv", [STOP_CHECK, "recv", "--local_ip", B_IP, "--port", FLOW_PORT, *extra],
                 self.app_env(self.b), self.topo.ns_b)
        r.wait_line(r"^listening", 20)
        return r

    def sender(self, *extra):
        s = Proc(self, "send", [STOP_CHECK, "send", "--local_ip", A_IP, "--remote_ip", B_IP, "--port", FLOW_PORT,
                                *extra], self.app_env(self.a), self.topo.ns_a)
        s.wait_line(r"^connected", 20)
        return s

    def tx_msgs(self):
        return max((f.get("tx_msgs", 0) for f in self.flows(self.a) if f.get("state") == "established"), default=0)

    def sigterm_a(self):
        """SIGTERM to daemon A; returns the seconds until it exited."""
        t0 = time.monotonic()
        self.a.signal(signal.SIGTERM)
        self.a.proc.wait(SHIPPED_DRAIN_MS / 1000 + 30)
        seconds = time.monotonic() - t0
        print(f"daemon a exited {self.a.proc.returncode} {seconds:.3f} s after SIGTERM")
        self.assertEqual(self.a.proc.returncode, 0, self.a.read_log()[-3000:])
        return seconds

    def results(self, sender, receiver):
        sender.finish(40)
        receiver.finish(40)
        s = next(j for j in sender.json_lines() if j.get("role") == "send")
        r = next(j for j in receiver.json_lines() if j.get("role") == "recv")
        print(f"sender: {json.dumps(s)}\nreceiver: {json.dumps(r)}")
        self.assertEqual(r["out_of_order"], 0, "a message was lost, duplicated or reordered")
        self.assertLessEqual(r["received"], s["accepted"], "the receiver got messages nobody sent")
        return s, r

    def test_sigterm_during_a_transfer_delivers_everything_accepted(self):
        self.start()
        receiver = self.receiver()
        sender = self.sender()
        wait_for(lambda: self.tx_msgs() > 200, 30, "the flow to carry messages")
        seconds = self.sigterm_a()
        s, r = self.results(sender, receiver)
        self.assertEqual(s["send_errno"], "ESHUTDOWN", "machnet_send must refuse once the daemon stops")
        self.assertEqual(s["ended_errno"], "ENETDOWN", "the sender must hear that everything was delivered")
        self.assertEqual(r["received"], s["accepted"], "every accepted message must arrive")
        self.assertLess(seconds, SHIPPED_DRAIN_MS / 1000 + EXIT_MARGIN_S)
        self.assertIn("closed in order", self.a.read_log())

    def test_a_receiver_that_stops_reading_is_reset_after_the_drain_time(self):
        drain_ms = 1000  # the key under test: short, so the test is
        self.start(daemon_toml=f"stop_drain_ms = {drain_ms}\n")
        receiver = self.receiver("--pause_after", 50, "--pause_s", 8, "--idle_s", 2)
        sender = self.sender()
        receiver.wait_line(r"^paused", 30)
        # The receiver's channel fills and its window closes: the sender's data waits.
        wait_for(lambda: any(f.get("peer_window") == 0 for f in self.flows(self.a)), 30,
                 "the receiver's window to close")
        seconds = self.sigterm_a()
        s, r = self.results(sender, receiver)
        self.assertEqual(s["ended_errno"], "ECONNABORTED", "the sender must hear that not everything arrived")
        self.assertLess(r["received"], s["accepted"])
        self.assertGreaterEqual(seconds, drain_ms / 1000 * 0.9, "the daemon must give the flow its drain time")
        self.assertLess(seconds, drain_ms / 1000 + EXIT_MARGIN_S)

    def test_a_daemon_with_nothing_in_flight_stops_at_once(self):
        self.start()
        receiver = self.receiver()
        sender = self.sender("--count", 20)
        wait_for(lambda: self.tx_msgs() == 20, 30, "all 20 messages acknowledged")
        seconds = self.sigterm_a()
        s, r = self.results(sender, receiver)
        self.assertEqual(s["accepted"], 20)
        self.assertEqual(r["received"], 20)
        self.assertEqual(s["ended_errno"], "ENETDOWN")
        self.assertLess(seconds, EXIT_MARGIN_S, "nothing in flight: no wait for the drain time")


if __name__ == "__main__":
    main()
