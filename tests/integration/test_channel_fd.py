#!/usr/bin/env python3
"""machnet_channel_fd (issue 17) against a real machnetd with [nic] mode = "none" (local
delivery): one thread serves 100 flows on 10 channels with epoll on the channels'
descriptors, level-triggered and edge-triggered, every echo byte-exact; the idle server uses
under 1 % of a CPU over 5 s (before and after traffic); a message arriving while it sleeps
wakes it within a bound (docs/bindings.md quotes what we measured). Not covered: the network
(test_two_daemons and the Python suite cover flows across daemons)."""

import json
import os
import signal
import time

from machnet_testlib import Proc, TempDirTest, main

EPOLL_ECHO = os.environ["EPOLL_ECHO"]
NONE_MODE = '[nic]\nmode = "none"\n'
# Bounds on the wake-up latency (client's send to the server holding the message, the server
# asleep in epoll_wait). A missed wake-up is not a latency: the client waits for each ping's
# echo before the next, so it would hang and fail the run. These catch a slow wake-up path.
# Measured (docs/bindings.md): p50 ~ 45-60 us, p99 ~ 75 us on a quiet 2-vCPU VM; p99 reached
# 12 ms while other builds loaded both cores, hence the loose p99 bound.
WAKE_P50_BOUND_US = 1000
WAKE_P99_BOUND_US = 20000


def cpu_seconds(pid):
    """CPU time the process used so far, in seconds (ns precision from schedstat)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ChannelFdTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.d = self.daemon(NONE_MODE).start()
        self.env = dict(os.environ, MACHNET_SOCKET=self.d.app_socket)

    def idle_cpu_fraction(self, pid, seconds=5.0):
        before = cpu_seconds(pid)
        time.sleep(seconds)  # the measurement window itself, not synchronisation
        return (cpu_seconds(pid) - before) / seconds

    def serve_and_check(self, port, edge):
        args = [EPOLL_ECHO, "server", "--port", port] + (["--edge"] if edge else [])
        server = Proc(self, "server-edge" if edge else "server-level", args, self.env)
        server.wait_line(r"^listening", 20)
        idle = self.idle_cpu_fraction(server.proc.pid)
        self.assertLess(idle, 0.01, f"idle server used {idle:.2%} of a CPU before any traffic")
        client = Proc(self, "client-edge" if edge else "client-level",
                      [EPOLL_ECHO, "client", "--port", port, "--flows", 100, "--rounds", 10,
                       "--max_size", 65536, "--pings", 200, "--ping_gap_ms", 5], self.env)
        self.assertEqual(client.finish(120), 0, client.text()[-3000:])
        report = client.json_lines()[-1]
        self.assertEqual(report["messages"], 1000)
        self.assertEqual(report["errors"], 0)
        print(f"{'edge' if edge else 'level'}: {json.dumps(report)}", flush=True)
        self.assertLess(report["wake_us_p50"], WAKE_P50_BOUND_US, report)
        self.assertLess(report["wake_us_p99"], WAKE_P99_BOUND_US, report)
        idle = self.idle_cpu_fraction(server.proc.pid)
        self.assertLess(idle, 0.01, f"idle server used {idle:.2%} of a CPU after traffic")
        server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(server.finish(10), 0, server.text())
        stats = server.json_lines()[-1]
        self.assertEqual(stats["echoed"], 1000 + 200)
        print(f"server: {json.dumps(stats)}", flush=True)
        # Each channel detached: the daemon has none left.
        self.assertEqual(self.d.ctl_json("status")["channels"], 0)

    def test_level_triggered(self):
        self.serve_and_check(7300, edge=False)

    def test_edge_triggered(self):
        self.serve_and_check(7400, edge=True)


if __name__ == "__main__":
    main()
