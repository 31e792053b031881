#!/usr/bin/env python3
"""Clients of the daemon's two sockets that try to hold it hostage (issue 15, rows 6 and 7).

- Idle application connections past what the open-file limit allows: the daemon refuses
  the surplus at once instead of failing accept() with EMFILE in a loop; the control
  thread stays idle (no spinning, a handful of log lines), `machnetctl status` answers
  within 1 s, watchdog pings go on, and once the idle clients leave an application
  attaches and connects within 1 s.
- Admin clients that send requests and never read the answers: each is hung up on once its
  answers stop draining (write deadline), so `machnetctl status` keeps answering within 1 s
  and the hostile sessions are gone within seconds.

Runs one daemon in mode "none" (no DPDK). The per-user cap on application connections (a
hostile user holding every slot) is tested in test_user_limits.py."""

import json
import os
import select
import socket
import subprocess
import time

from machnet_testlib import TempDirTest, cpu_seconds, main, wait_for

NONE_MODE = '[nic]\nmode = "none"\n'
FLOW_CHECK = os.environ.get("FLOW_CHECK", "flow_check")


class HostileClientsTest(TempDirTest):
    def timed_status(self, d):
        t0 = time.monotonic()
        result = d.ctl("status", "--json", timeout=5)
        elapsed = time.monotonic() - t0
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertLess(elapsed, 1.0, f"machnetctl status took {elapsed:.2f} s")
        return json.loads(result.stdout)

    def pings_during(self, d, seconds):
        start = len(d.notify.poll(0))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            d.notify.poll(0.05)
        return sum(1 for _, f in d.notify.messages[start:] if f.get("WATCHDOG") == "1")

    def test_idle_app_connections_past_the_descriptor_limit(self):
        # 320 descriptors: 256 kept in reserve and 64 for the 32 channels leave the floor of
        # 16 application connections.
        d = self.daemon(NONE_MODE, nofile=320, env={"WATCHDOG_USEC": "400000"}).start()
        self.addCleanup(d.stop)
        self.assertIn("up to 16 application connections", d.read_log())
        idle = []
        self.addCleanup(lambda: [s.close() for s in idle])
        for _ in range(300):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            s.connect(d.app_socket)
            idle.append(s)
        # The daemon has seen them all once every surplus one was hung up on. (Reading the
        # notify socket as systemd would: an unread one blocks the daemon's sd_notify.)
        def surplus_closed():
            d.notify.poll(0)
            closed = 0
            for s in idle:
                r, _, _ = select.select([s], [], [], 0)
                if r and s.recv(1) == b"":
                    closed += 1
            return closed >= 300 - 16
        wait_for(surplus_closed, 10, "the daemon to hang up on the connections past its limit")
        cpu0 = cpu_seconds(d.proc.pid)
        pings = self.pings_during(d, 2.0)
        cpu = cpu_seconds(d.proc.pid) - cpu0
        self.assertLess(cpu, 0.3, f"the daemon used {cpu:.2f} s of CPU in 2 s while idle clients waited")
        self.assertGreaterEqual(pings, 5, "watchdog pings stopped")
        self.timed_status(d)
        log = d.read_log()
        self.assertLess(len(log), 20000, "the refusals flooded the log")
        self.assertIn("refusing one", log)
        for s in idle:
            s.close()
        idle.clear()
        # Free slots again: an application attaches, listens and connects within 1 s.
        server = subprocess.Popen([FLOW_CHECK, "server", "--local_ip", "127.0.0.1", "--port", "7000"],
                                  env=dict(os.environ, MACHNET_SOCKET=d.app_socket), stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (server.kill(), server.wait()))
        self.assertRegex(server.stdout.readline(), r"^listening on ")
        t0 = time.monotonic()
        probe = subprocess.run([FLOW_CHECK, "connect", "--local_ip", "127.0.0.1", "--remote_ip", "127.0.0.1",
                                "--port", "7000"], env=dict(os.environ, MACHNET_SOCKET=d.app_socket),
                               capture_output=True, text=True, timeout=10)
        self.assertEqual(probe.returncode, 0, probe.stdout + probe.stderr)
        self.assertLess(time.monotonic() - t0, 1.0)

    def test_admin_clients_that_never_read_are_hung_up_on(self):
        d = self.daemon(NONE_MODE, env={"WATCHDOG_USEC": "400000"}).start()
        self.addCleanup(d.stop)
        hostile = []
        self.addCleanup(lambda: [s.close() for s in hostile])
        request = b'{"cmd":"config"}\n' * 256
        for _ in range(70):  # more than the daemon's 64 admin sessions
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.admin_socket)
            s.setblocking(False)
            hostile.append(s)
        # Requests until the daemon's answers back up: nothing is ever read. The watchdog
        # pings go on meanwhile (read as systemd would: an unread notify socket blocks them).
        pings_before = len(d.notify.poll(0))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            d.notify.poll(0)
            for s in hostile:
                try:
                    s.send(request)
                except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                    pass
        pings = sum(1 for _, f in d.notify.messages[pings_before:] if f.get("WATCHDOG") == "1")
        self.assertGreaterEqual(pings, 10, "watchdog pings stopped during the flood")
        self.timed_status(d)

        def all_hung_up():
            d.notify.poll(0)
            poller = select.poll()
            for s in hostile:
                poller.register(s, select.POLLRDHUP)
            return len([fd for fd, ev in poller.poll(0) if ev & (select.POLLRDHUP | select.POLLHUP)]) == len(hostile)
        wait_for(all_hung_up, 15, "the daemon to hang up on admin clients that never read")
        self.timed_status(d)


if __name__ == "__main__":
    main()
