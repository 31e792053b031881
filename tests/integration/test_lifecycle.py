#!/usr/bin/env python3
"""machnetd's lifecycle with real processes: systemd notifications (READY, STATUS,
WATCHDOG, RELOADING, STOPPING) on a test-owned NOTIFY_SOCKET, SIGHUP reloads (good and
broken files), SIGTERM, the single-instance guard, stale sockets, and --check-config.
Runs without root: sockets live in a temp dir and the NIC mode is "none"."""

import json
import os
import signal
import socket
import subprocess
import time
import unittest

from machnet_testlib import MACHNETCTL, MACHNETD, SOURCE_ROOT, TempDirTest, main, wait_for

NONE_MODE = """
[nic]
mode = "none"
"""


class NotifyTest(TempDirTest):
    def test_ready_and_status_are_sent_when_serving(self):
        d = self.daemon(NONE_MODE).start()
        ready = [f for _, f in d.notify.messages if f.get("READY") == "1"]
        self.assertTrue(ready, "no READY=1")
        self.assertIn("STATUS", ready[0], "READY=1 comes with a STATUS= line")
        self.assertIn("NIC mode none", ready[0]["STATUS"])
        # READY=1 means ready to serve: the admin socket answers at once.
        self.assertEqual(d.ctl_json("status")["state"], "running")

    def test_watchdog_pings_at_half_the_interval(self):
        d = self.daemon(NONE_MODE, env={"WATCHDOG_USEC": "400000"}).start()
        first = d.notify.wait_for("WATCHDOG", "1")
        later = d.notify.wait_for("WATCHDOG", "1", after=first + 1)
        later = d.notify.wait_for("WATCHDOG", "1", after=later + 1)
        t0 = d.notify.messages[first][0]
        t2 = d.notify.messages[later][0]
        interval = (t2 - t0) / 2
        # WATCHDOG_USEC = 400 ms: one ping every 200 ms.
        self.assertGreater(interval, 0.15)
        self.assertLess(interval, 0.30)

    def test_no_watchdog_pings_without_watchdog_usec(self):
        d = self.daemon(NONE_MODE).start()
        d.ctl_json("status")
        time.sleep(0.3)  # a quiet period is the thing under test: nothing may arrive in it
        d.notify.poll(0.05)
        self.assertFalse([f for _, f in d.notify.messages if "WATCHDOG" in f])

    def test_sigterm_stops_cleanly_and_removes_sockets(self):
        d = self.daemon(NONE_MODE).start()
        self.assertTrue(os.path.exists(d.admin_socket))
        self.assertTrue(os.path.exists(d.app_socket))
        start = time.monotonic()
        d.signal(signal.SIGTERM)
        code = d.proc.wait(10)
        self.assertEqual(code, 0)
        self.assertLess(time.monotonic() - start, 2.0, "stop within 2 seconds")
        d.notify.wait_for("STOPPING", "1")
        self.assertFalse(os.path.exists(d.admin_socket))
        self.assertFalse(os.path.exists(d.app_socket))
        self.assertEqual(sorted(os.listdir(self.dir)), sorted(
            os.path.basename(p) for p in (d.config_path, d.log_path, d.notify.path)))

    def test_sigint_stops_cleanly(self):
        d = self.daemon(NONE_MODE).start()
        d.signal(signal.SIGINT)
        self.assertEqual(d.proc.wait(10), 0)


class ReloadTest(TempDirTest):
    def test_sighup_applies_log_level(self):
        d = self.daemon(NONE_MODE).start()
        self.assertEqual(d.ctl_json("status")["log_level"], "info")
        d.daemon_toml = 'log_level = "debug"\n'
        d.write_config(NONE_MODE + '[engine]\npolling = "busy"\n')
        mark = len(d.notify.poll())
        d.signal(signal.SIGHUP)
        reloading = d.notify.wait_for("RELOADING", "1", after=mark)
        d.notify.wait_for("READY", "1", after=reloading + 1)
        status = d.ctl_json("status")
        self.assertEqual(status["log_level"], "debug")
        self.assertEqual(status["reloads"], 1)
        # polling needs a restart: the daemon says so and keeps the old value.
        self.assertEqual(d.ctl_json("config")["engine"]["polling"], "adaptive")
        log = d.read_log()
        self.assertIn("engine.polling changed: takes effect after a restart", log)

    def test_sighup_with_broken_file_keeps_old_config(self):
        d = self.daemon(NONE_MODE).start()
        with open(d.config_path, "a") as f:
            f.write('\n[transport]\nmtu = "big"\n')
        mark = len(d.notify.poll())
        d.signal(signal.SIGHUP)
        d.notify.wait_for("READY", "1", after=mark)
        self.assertIsNone(d.proc.poll(), "the daemon must survive a broken file")
        status = d.ctl_json("status")
        self.assertEqual(status["state"], "running")
        self.assertEqual(status["reloads"], 0)
        self.assertEqual(d.ctl_json("config")["transport"]["mtu"], "auto")
        self.assertIn("reload refused", d.read_log())
        self.assertIn("transport.mtu: expected \"auto\" or an integer between 576 and 9000, got \"big\"", d.read_log())

    def test_machnetctl_reload(self):
        d = self.daemon(NONE_MODE).start()
        d.daemon_toml = 'log_level = "warning"\n'
        d.write_config(NONE_MODE)
        result = d.ctl("reload")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("daemon.log_level", result.stdout)
        self.assertEqual(d.ctl_json("status")["log_level"], "warning")
        with open(d.config_path, "a") as f:
            f.write("\n[bogus]\n")
        result = d.ctl("reload")
        self.assertEqual(result.returncode, 1)
        self.assertIn("unknown section [bogus]", result.stderr)

    def test_log_level_flag_overrides_file(self):
        d = self.daemon(NONE_MODE, args=["--log-level", "error"]).start()
        self.assertEqual(d.ctl_json("status")["log_level"], "error")
        self.assertNotIn("<6>", d.read_log(), "info lines are below the error level")


class StartupTest(TempDirTest):
    def test_second_instance_refused(self):
        first = self.daemon(NONE_MODE).start()
        second = subprocess.run([MACHNETD, "--config", first.config_path],
                                capture_output=True, text=True, timeout=20)
        self.assertEqual(second.returncode, 1)
        self.assertIn("another machnetd is already serving", second.stderr)
        # The first one is untouched.
        self.assertEqual(first.ctl_json("status")["pid"], first.proc.pid)

    def test_stale_socket_after_a_crash_does_not_block(self):
        d = self.daemon(NONE_MODE).start()
        d.proc.kill()
        d.proc.wait()
        self.assertTrue(os.path.exists(d.admin_socket), "kill -9 leaves the socket file")
        d2 = self.daemon(NONE_MODE, name="machnetd")
        d2.start()
        self.assertEqual(d2.ctl_json("status")["pid"], d2.proc.pid)
        self.assertIn("removed stale socket", d2.read_log())

    def test_a_non_socket_in_the_way_is_not_removed(self):
        d = self.daemon(NONE_MODE)
        with open(d.admin_socket, "w") as f:
            f.write("precious")
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(20), 1)
        self.assertIn("exists and is not a socket", d.read_log())
        with open(d.admin_socket) as f:
            self.assertEqual(f.read(), "precious")

    def test_invalid_config_exits_1_with_errors(self):
        d = self.daemon('[nic]\nmode = "fast"\n')
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(20), 1)
        self.assertIn("nic.mode: expected one of", d.read_log())
        self.assertFalse(os.path.exists(d.admin_socket))

    def test_check_config(self):
        shipped = os.path.join(SOURCE_ROOT, "config", "machnet.toml")
        ok = subprocess.run([MACHNETD, "--config", shipped, "--check-config"], capture_output=True, text=True)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertEqual(ok.stdout, "configuration OK\n")
        bad = os.path.join(self.dir, "bad.toml")
        with open(bad, "w") as f:
            f.write('[nic]\nmode = "pci"\n[transport]\nmtu = 1\n')
        result = subprocess.run([MACHNETD, "--config", bad, "--check-config"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"{bad}:4:7: transport.mtu: 1 is out of range", result.stderr)
        self.assertIn("2 errors", result.stderr)

    def test_flags(self):
        version = subprocess.run([MACHNETD, "--version"], capture_output=True, text=True)
        self.assertEqual(version.returncode, 0)
        self.assertRegex(version.stdout, r"^machnetd \d+\.\d+\.\d+\n$")
        helptext = subprocess.run([MACHNETD, "--help"], capture_output=True, text=True)
        for flag in ("--config", "--check-config", "--log-level", "--version"):
            self.assertIn(flag, helptext.stdout)
        bad = subprocess.run([MACHNETD, "--log-level", "loud"], capture_output=True, text=True)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("unknown log level", bad.stderr)


class MachnetctlTest(TempDirTest):
    def test_status_json_has_the_right_pid(self):
        d = self.daemon(NONE_MODE).start()
        status = d.ctl_json("status")
        self.assertEqual(status["pid"], d.proc.pid)
        self.assertEqual(status["nic_mode"], "none")
        self.assertEqual(status["config_path"], d.config_path)
        for key in ("version", "uptime_s", "state", "engines", "channels"):
            self.assertIn(key, status)

    def test_human_status(self):
        d = self.daemon(NONE_MODE).start()
        out = d.ctl("status", check=True).stdout
        self.assertIn(f"PID: {d.proc.pid}", out)
        self.assertIn("NIC mode: none", out)

    def test_config_shows_effective_values(self):
        d = self.daemon(NONE_MODE + '[transport]\nmtu = 9000\n').start()
        self.assertEqual(d.ctl_json("config")["transport"]["mtu"], 9000)
        self.assertIn("mtu", d.ctl("config", check=True).stdout)

    def test_no_daemon_exits_3(self):
        path = os.path.join(self.dir, "nothing.sock")
        result = subprocess.run([MACHNETCTL, "--socket", path, "status"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 3)
        self.assertEqual(result.stderr, f"machnetd is not running (no socket at {path})\n")
        # A socket file nobody listens on (a crashed daemon's) is "not running" too.
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()
        result = subprocess.run([MACHNETCTL, "--socket", path, "--json", "status"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 3)

    def test_unknown_command_is_a_usage_error(self):
        result = subprocess.run([MACHNETCTL, "frobnicate"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 2)
        self.assertIn("unknown command", result.stderr)


if __name__ == "__main__":
    main()
