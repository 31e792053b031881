#!/usr/bin/env python3
"""`machnetctl detect` while the metadata service hangs (issue 15, row 5).

A member of group machnet runs several `detect` at once and the metadata service accepts
connections but never answers. Before, each detect ran on the control thread: the app and
admin sockets froze for seconds per call and the watchdog pings stopped. Now detection runs
on a thread of its own, one at a time (concurrent requests share one run), its result is
cached for 10 s, and the watchdog pings come from their own thread while the engines'
loops advance. Asserted while the detections hang: `machnetctl status` answers within 1 s,
an application attaches, listens and connects within 1 s, and watchdog pings continue
(the fake NOTIFY_SOCKET is drained continuously: an unread one blocks sd_notify).

Runs one daemon in mode "none" with a fake AWS host tree (test_detect.FakeHost)."""

import json
import os
import socket
import subprocess
import threading
import time

from machnet_testlib import MACHNETCTL, TempDirTest, main
from test_detect import FakeHost

FLOW_CHECK = os.environ.get("FLOW_CHECK", "flow_check")
METADATA_TIMEOUT_MS = 1500


class HangingMetadata:
    """Accepts connections on 127.0.0.1 and never answers: a metadata service that hangs."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
                self.held.append(conn)  # read nothing, answer nothing
            except (socket.timeout, OSError):
                pass

    def close(self):
        self.stopped.set()
        self.thread.join()
        for c in self.held:
            c.close()
        self.sock.close()


class NotifyDrain:
    """Reads the daemon's notify socket continuously, as systemd does, on a thread."""

    def __init__(self, notify):
        self.notify = notify
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.is_set():
            self.notify.poll(0.05)

    def pings_between(self, t0, t1):
        return [t for t, f in list(self.notify.messages) if f.get("WATCHDOG") == "1" and t0 <= t <= t1]

    def close(self):
        self.stopped.set()
        self.thread.join()


class HostileDetectTest(TempDirTest):
    def test_detect_with_hanging_metadata_freezes_nothing(self):
        host = FakeHost(os.path.join(self.dir, "host"))
        self.addCleanup(host.close)
        imds = HangingMetadata()
        self.addCleanup(imds.close)
        d = self.daemon(f"""
            [nic]
            mode = "none"
            [cloud]
            metadata_url = "{imds.url}"
            metadata_timeout_ms = {METADATA_TIMEOUT_MS}
            [testing]
            enabled = true
            sysfs_root = "{host.sys}"
            proc_root = "{host.proc}"
            """, env={"WATCHDOG_USEC": "400000"}).start()
        drain = NotifyDrain(d.notify)
        self.addCleanup(drain.close)
        env = dict(os.environ, MACHNET_SOCKET=d.app_socket)
        server = subprocess.Popen([FLOW_CHECK, "server", "--local_ip", "127.0.0.1", "--port", "7000"],
                                  env=env, stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (server.kill(), server.wait()))
        self.assertRegex(server.stdout.readline(), r"^listening on ")

        # Several detects at once, each from its own connection.
        t_start = time.monotonic()
        detects = [subprocess.Popen([MACHNETCTL, "--socket", d.admin_socket, "--json", "detect"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
        self.addCleanup(lambda: [(p.kill(), p.wait()) for p in detects])
        wait_until = time.monotonic() + 0.3
        while time.monotonic() < wait_until and not imds.held:
            time.sleep(0.01)
        self.assertTrue(imds.held, "no detection reached the metadata service")

        # While they hang: status, an app's attach + listen + connect, each within 1 s.
        rounds = 0
        while all(p.poll() is None for p in detects) and rounds < 4:
            t0 = time.monotonic()
            status = subprocess.run([MACHNETCTL, "--socket", d.admin_socket, "--json", "status"],
                                    capture_output=True, text=True, timeout=5)
            took = time.monotonic() - t0
            self.assertEqual(status.returncode, 0, status.stderr)
            self.assertLess(took, 1.0, f"machnetctl status took {took:.2f} s during detect")
            self.assertEqual(json.loads(status.stdout)["state"], "running")
            t0 = time.monotonic()
            probe = subprocess.run([FLOW_CHECK, "connect", "--local_ip", "127.0.0.1", "--remote_ip", "127.0.0.1",
                                    "--port", "7000"], env=env, capture_output=True, text=True, timeout=10)
            took = time.monotonic() - t0
            self.assertEqual(probe.returncode, 0, probe.stdout + probe.stderr)
            self.assertLess(took, 1.0, f"attach + connect took {took:.2f} s during detect")
            rounds += 1
            time.sleep(0.2)
        self.assertGreaterEqual(rounds, 2, "the detections ended before the checks could run")
        t_checked = time.monotonic()

        # Every detect is answered (after the metadata timeouts), all from one detection run.
        results = []
        for p in detects:
            out, err = p.communicate(timeout=30)
            results.append((time.monotonic(), p.returncode, out, err))
        for _, code, out, err in results:
            self.assertEqual(code, 0, err)
            report = json.loads(out)
            self.assertEqual(report["cloud"], "aws")
            self.assertFalse(report["metadata_ok"])
        ends = [t for t, *_ in results]
        self.assertLess(max(ends) - min(ends), 1.0, "concurrent detects were not served by one run")

        # Watchdog pings went on throughout (one per 200 ms expected).
        pings = drain.pings_between(t_start, t_checked)
        self.assertGreaterEqual(len(pings), int((t_checked - t_start) / 0.2) - 2,
                                f"watchdog pings stopped during detect: {len(pings)} in {t_checked - t_start:.1f} s")
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        self.assertLess(max(gaps), 0.6, f"a watchdog gap of {max(gaps):.2f} s during detect")

        # The result is cached: a detect now answers at once, without asking the service.
        held = len(imds.held)
        t0 = time.monotonic()
        again = d.ctl("--json", "detect", timeout=5)
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertLess(time.monotonic() - t0, 1.0, "a detect within the cache period asked again")
        self.assertEqual(len(imds.held), held)


if __name__ == "__main__":
    main()
