"""Helpers for integration tests that run real machnetd processes.

Every test gets binaries from the environment Meson sets (MACHNETD, MACHNETCTL, ...), a
temporary directory of its own, and daemons whose sockets live in that directory. Daemons
are started with a NOTIFY_SOCKET owned by the test, so tests wait on READY=1 instead of
sleeping, and they are always stopped (by PID) when the test ends, also on failure.
"""

import json
import os
import resource
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
import unittest

MACHNETD = os.environ.get("MACHNETD", "machnetd")
MACHNETCTL = os.environ.get("MACHNETCTL", "machnetctl")
SOURCE_ROOT = os.environ.get("MACHNET_SOURCE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_ROOT = os.environ.get("MACHNET_BUILD_ROOT", os.path.join(SOURCE_ROOT, "build"))


def cpu_seconds(pid):
    """User + system CPU time a process (all its threads) used so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_used_over(pid, seconds):
    """CPU seconds the process uses while the caller sleeps `seconds` (an idle cost)."""
    c0 = cpu_seconds(pid)
    time.sleep(seconds)
    return cpu_seconds(pid) - c0


def hugetlbfs_mounts():
    """Where hugetlbfs is mounted, from /proc/mounts."""
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if line.split()[2] == "hugetlbfs"]


def hugepages_hold_mb(mb):
    """Whether the daemon's hugepages = "auto" would take hugepages for memory_mb = `mb`: a
    hugetlbfs is mounted and the free pages of the default size hold all of it."""
    with open("/proc/meminfo") as f:
        info = {line.split(":")[0]: int(line.split()[1]) for line in f if line.startswith("Huge")}
    return bool(hugetlbfs_mounts()) and info.get("HugePages_Free", 0) * info.get("Hugepagesize", 2048) >= mb * 1024


def wait_for(predicate, timeout, what, interval=0.01):
    """Polls `predicate` until it returns a truthy value; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def require_root(test):
    if os.geteuid() != 0:
        raise unittest.SkipTest("needs root (network namespaces, DPDK); CI runs as root")


class NotifySocket:
    """A datagram socket standing in for systemd's NOTIFY_SOCKET; records every message."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.exists(path):
            os.unlink(path)  # left by an earlier daemon of the same name in this test
        self.sock.bind(path)
        self.messages = []  # (monotonic time, {"KEY": "value", ...})

    def poll(self, timeout=0.0):
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                fields = {}
                for line in data.decode(errors="replace").split("\n"):
                    if "=" in line:
                        key, value = line.split("=", 1)
                        fields[key] = value
                self.messages.append((time.monotonic(), fields))
                self.sock.settimeout(0.0)
        except (BlockingIOError, socket.timeout):
            pass
        return self.messages

    def wait_for(self, key, value=None, timeout=10.0, after=0):
        """Waits for a message carrying KEY (=value); returns its index in messages."""
        def found():
            self.poll(0.05)
            for i, (_, fields) in enumerate(self.messages[after:], start=after):
                if key in fields and (value is None or fields[key] == value):
                    return i + 1
            return None
        return wait_for(found, timeout, f"{key}={value or '*'} on NOTIFY_SOCKET") - 1

    def close(self):
        self.sock.close()


class Daemon:
    """One machnetd under test. Use as a context manager, or call stop() in a cleanup."""

    def __init__(self, workdir, toml="", name="machnetd", env=None, args=(), notify=True,
                 netns=None, daemon_toml="", nofile=None):
        self.workdir = workdir
        self.name = name
        self.app_socket = os.path.join(workdir, f"{name}.sock")
        self.admin_socket = os.path.join(workdir, f"{name}ctl.sock")
        self.config_path = os.path.join(workdir, f"{name}.toml")
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.netns = netns
        self.daemon_toml = daemon_toml
        self.write_config(toml)
        self.notify = NotifySocket(os.path.join(workdir, f"{name}.notify")) if notify else None
        self.extra_env = dict(env or {})
        self.args = list(args)
        self.nofile = nofile  # an open-file limit (soft and hard) for the daemon, as LimitNOFILE= sets
        self.proc = None

    def default_toml(self):
        return textwrap.dedent(f"""\
            [daemon]
            app_socket = "{self.app_socket}"
            admin_socket = "{self.admin_socket}"
            """) + textwrap.dedent(self.daemon_toml)

    def write_config(self, extra):
        """Writes the daemon's config: a [daemon] table with the socket paths in the test dir
        plus `daemon_toml` (more [daemon] keys), then `extra` (the other tables)."""
        extra = textwrap.dedent(extra)
        # Never the shipped default mode = "auto" by accident: on a cloud VM it would ask the
        # real metadata service and rebind a real NIC.
        if "[nic]" not in extra:
            extra += '\n[nic]\nmode = "none"\n'
        with open(self.config_path, "w") as f:
            f.write(self.default_toml())
            f.write(extra)

    def start(self, wait_ready=True, timeout=30.0):
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        env.pop("WATCHDOG_USEC", None)
        if self.notify:
            env["NOTIFY_SOCKET"] = self.notify.path
        env.update(self.extra_env)
        cmd = [MACHNETD, "--config", self.config_path] + self.args
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        self.log = open(self.log_path, "ab")
        limit = None
        if self.nofile:
            def limit():
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=limit)
        if wait_ready and self.notify:
            def ready_or_dead():
                if self.proc.poll() is not None:
                    raise AssertionError(f"machnetd exited with {self.proc.returncode} before READY=1:\n{self.read_log()}")
                self.notify.poll(0.05)
                return any(f.get("READY") == "1" for _, f in self.notify.messages)
            wait_for(ready_or_dead, timeout, "READY=1 from machnetd", interval=0)
        return self

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def ctl(self, *args, check=False, timeout=20, netns=None):
        """Runs machnetctl against this daemon; returns the CompletedProcess."""
        cmd = [MACHNETCTL, "--socket", self.admin_socket] + list(args)
        ns = netns or self.netns
        if ns:
            cmd = ["ip", "netns", "exec", ns] + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=check)

    def ctl_json(self, *args):
        result = self.ctl("--json", *args)
        if result.returncode != 0:
            raise AssertionError(f"machnetctl --json {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return json.loads(result.stdout)

    def channels(self):
        """The rows of `machnetctl channels`."""
        return self.ctl_json("channels")["channels"]

    def channel_of(self, pid):
        """The channel row of the application with this pid, or None."""
        return next((c for c in self.channels() if c["pid"] == pid), None)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10.0):
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.notify:
            self.notify.close()
        return self.proc.returncode

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class TempDirTest(unittest.TestCase):
    """A test case with a fresh temporary directory in self.dir, removed afterwards
    (kept, and its path printed, when MACHNET_KEEP_TEST_DIRS is set)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="machnet-test-")
        self.addCleanup(self._remove_dir)

    def _remove_dir(self):
        if os.environ.get("MACHNET_KEEP_TEST_DIRS"):
            print(f"kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def daemon(self, toml="", **kwargs):
        """A started daemon that is stopped when the test ends."""
        d = Daemon(self.dir, toml, **kwargs)
        self.addCleanup(d.stop)
        return d


def main():
    """Runs the calling module's tests; exits 77 (Meson's "skipped") when every test skipped."""
    import sys
    program = unittest.main(exit=False, verbosity=2)
    result = program.result
    if result.testsRun > 0 and len(result.skipped) == result.testsRun:
        sys.exit(77)
    sys.exit(0 if result.wasSuccessful() else 1)


class Proc:
    """A program (optionally in a namespace) whose output goes to a file we can wait on."""

    def __init__(self, test, name, cmd, env, netns=None):
        self.name = name
        self.out_path = os.path.join(test.dir, f"{name}.out")
        self.out = open(self.out_path, "wb")
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.cmd = [str(c) for c in cmd]
        # ip netns exec execs the program: self.proc.pid is the program itself.
        self.proc = subprocess.Popen(self.cmd, env=env, stdout=self.out, stderr=subprocess.STDOUT)
        test.addCleanup(self.kill)

    def text(self):
        with open(self.out_path, errors="replace") as f:
            return f.read()

    def wait_line(self, pattern, timeout):
        def seen():
            m = re.search(pattern, self.text(), re.M)
            if m:
                return m
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited {self.proc.returncode} before '{pattern}':\n{self.text()[-3000:]}")
            return None
        return wait_for(seen, timeout, f"'{pattern}' from {self.name}", interval=0.02)

    def finish(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not finish within {timeout} s:\n{self.text()[-3000:]}")

    def json_lines(self):
        out = []
        for line in self.text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
        return out

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if not self.out.closed:
            self.out.close()
