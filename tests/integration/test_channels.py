#!/usr/bin/env python3
"""Channels and libmachnet against a real machnetd with [nic] mode = "none" (local delivery):
hello_world, a 100 000-message exchange verified byte for byte, a hostile app scribbling over
its channel while a good one keeps going, kill -9 mid-transfer, machnet_init without a daemon,
and an application built from the installed headers and pkg-config file. Not covered: the
network (there is none in this mode)."""

import os
import signal
import socket
import subprocess
import tempfile
import textwrap
import time

from machnet_testlib import Proc, TempDirTest, main, wait_for

DRIVER = os.environ["CHAN_DRIVER"]
HELLO = os.environ["HELLO_WORLD"]
BUILD_ROOT = os.environ["MACHNET_BUILD_ROOT"]
NONE_MODE = '[nic]\nmode = "none"\n'


def App(test, args, env):
    """A driver process whose output we can wait on, numbered in test.apps."""
    app = Proc(test, f"app-{len(test.apps)}", args, env)
    test.apps.append(app)
    return app


class ChannelTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.apps = []
        self.d = self.daemon(NONE_MODE).start()
        self.env = dict(os.environ, MACHNET_SOCKET=self.d.app_socket)

    def app(self, *args):
        return App(self, [DRIVER] + [str(a) for a in args], self.env)

    def assert_daemon_alive(self):
        self.assertIsNone(self.d.proc.poll(), f"machnetd died:\n{self.d.read_log()}")
        self.assertEqual(self.d.ctl_json("status")["state"], "running")

    def test_hello_world(self):
        server = App(self, [HELLO, "--local", "127.0.0.1", "--count", "1"], self.env)
        server.wait_line(r"^listening", 10)
        client = subprocess.run([HELLO, "--local", "127.0.0.1", "--remote", "127.0.0.1"], env=self.env,
                                capture_output=True, text=True, timeout=20)
        self.assertEqual(client.returncode, 0, client.stderr)
        self.assertIn("reply: Hello World!", client.stdout)
        self.assertEqual(server.finish(10), 0)
        self.assertIn("received: Hello World!", server.text())

    def test_exchange_100k_messages_byte_exact(self):
        server = self.app("server", "--port", 7000)
        server.wait_line(r"^listening", 10)
        # 100 000 messages, sizes log-uniform from 16 B to 1 MiB, plus 5 of 8 MiB.
        client = self.app("client", "--port", 7000, "--count", 100000, "--seed", 7,
                          "--max-size", 1 << 20, "--big", 5)
        self.assertEqual(client.finish(600), 0, client.text()[-2000:])
        self.assertRegex(client.text(), r"done 100000 messages")
        self.assertIsNone(server.proc.poll(), server.text())
        server_ch = self.d.channel_of(server.proc.pid)
        self.assertEqual(server_ch["msgs_out"], 100000)
        self.assertEqual(server_ch["msgs_in"], 100000)  # one ack each
        self.assertEqual(server_ch["drops_total"], 0)

    def test_hostile_channel_does_not_hurt_others(self):
        server = self.app("server", "--port", 7000)
        server.wait_line(r"^listening", 10)
        hostile = self.app("hostile", "--port", 7000, "--seconds", 5, "--seed", 3)
        hostile.wait_line(r"^scribbling", 10)
        self.assertIn("shrink refused", hostile.text())
        # Good clients, one after another, for as long as the hostile app scribbles.
        rounds = 0
        while rounds == 0 or "done" not in hostile.text():
            client = self.app("client", "--port", 7000, "--count", 3000, "--seed", rounds,
                              "--max-size", 65536)
            self.assertEqual(client.finish(120), 0, client.text()[-2000:])
            rounds += 1
        self.assert_daemon_alive()
        bad = self.d.channel_of(hostile.proc.pid)
        self.assertIsNotNone(bad)
        self.assertGreater(bad["drops_total"], 0, bad)
        server_ch = self.d.channel_of(server.proc.pid)
        self.assertEqual(server_ch["drops_total"], 0, server_ch)
        self.assertEqual(server_ch["msgs_out"], 3000 * rounds)
        # Its death frees the channel like any other.
        hostile.kill()
        wait_for(lambda: self.d.channel_of(hostile.proc.pid) is None, 10, "hostile channel freed")

    def test_hostile_doorbell_does_not_freeze_the_engine(self):
        """Issue 15, row 1: an app makes its doorbell blocking, fills it and makes the daemon
        ring it, then floods it. Before the doorbell was a per-channel socketpair the engine
        blocked in write() for good: every channel stopped, status hung, SIGTERM did nothing."""
        server = self.app("server", "--port", 7000)
        server.wait_line(r"^listening", 10)
        hostile = self.app("doorbell", "--port", 7300, "--seconds", 60)
        hostile.wait_line(r"^armed", 10)
        started = time.monotonic()
        client = self.app("client", "--port", 7000, "--count", 3000, "--seed", 5, "--max-size", 65536)
        self.assertEqual(client.finish(60), 0, client.text()[-2000:])
        # Unhindered this takes well under a second here; the bound leaves room for a loaded CI.
        self.assertLess(time.monotonic() - started, 20, "the victim pair slowed down")
        asked = time.monotonic()
        self.assertEqual(self.d.ctl_json("status")["state"], "running")
        self.assertLess(time.monotonic() - asked, 1.0, "status took over a second")
        self.assertIsNone(hostile.proc.poll(), hostile.text())
        stopping = time.monotonic()
        self.d.proc.send_signal(signal.SIGTERM)
        try:
            self.d.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.fail(f"SIGTERM did not stop the daemon within 5 s:\n{self.d.read_log()[-3000:]}")
        self.assertEqual(self.d.proc.returncode, 0, self.d.read_log()[-3000:])
        self.assertLess(time.monotonic() - stopping, 5)

    def test_kill9_mid_transfer_frees_channels(self):
        server = self.app("server", "--port", 7000)
        server.wait_line(r"^listening", 10)
        victim = self.app("client", "--port", 7000, "--count", 10**9, "--max-size", 1 << 20)
        victim.wait_line(r"^acked", 30)
        self.assertIsNotNone(self.d.channel_of(victim.proc.pid))
        before = len(self.d.channels())
        victim.proc.send_signal(signal.SIGKILL)
        victim.proc.wait()
        wait_for(lambda: self.d.channel_of(victim.proc.pid) is None, 10, "the killed app's channel freed")
        self.assertEqual(len(self.d.channels()), before - 1)
        self.assertEqual(self.d.ctl_json("status")["channels"], before - 1)
        # The server keeps working for the next client.
        client = self.app("client", "--port", 7000, "--count", 2000, "--max-size", 65536)
        self.assertEqual(client.finish(120), 0, client.text()[-2000:])
        self.assert_daemon_alive()

    def test_api_edges(self):
        api = self.app("api", "--port", 7100)
        self.assertEqual(api.finish(60), 0, api.text())
        self.assertIn("api ok", api.text())
        wait_for(lambda: not self.d.channels(), 10, "the api driver's channels freed after detach")
        self.assert_daemon_alive()

    def test_channel_limit(self):
        filler = self.app("fill")
        filler.wait_line(r"^attached", 30)
        self.assertIn("attached 32 errno ENOSPC", filler.text())  # [channels] max_channels default
        self.assertEqual(self.d.ctl_json("status")["channels"], 32)
        filler.kill()
        wait_for(lambda: self.d.ctl_json("status")["channels"] == 0, 10, "all 32 channels freed")

    def test_channels_table(self):
        server = self.app("server", "--port", 7001)
        server.wait_line(r"^listening", 10)
        ch = self.d.channel_of(server.proc.pid)
        self.assertEqual(ch["uid"], os.getuid())
        self.assertEqual(ch["command"], "chan_driver")
        self.assertEqual(ch["listening"], [7001])
        for reason in ("bad_ring_index", "bad_buffer_index", "bad_chain", "bad_length", "unknown_flow",
                       "bad_free_index", "peer_gone", "receiver_full"):
            self.assertIn(reason, ch["drops"])
        table = self.d.ctl("channels")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertIn(str(server.proc.pid), table.stdout)
        self.assertIn("chan_driver", table.stdout)
        self.assertEqual(self.d.ctl_json("status")["channels"], 1)


class NoDaemonTest(TempDirTest):
    def run_init(self, path):
        r = subprocess.run([DRIVER, "init"], env=dict(os.environ, MACHNET_SOCKET=path),
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_init_without_daemon_fails_with_errno(self):
        out = self.run_init(os.path.join(self.dir, "nothing.sock"))
        self.assertIn("result -1 errno 2 ENOENT", out)
        self.assertIn("is machnetd running?", out)
        # A socket file with nobody behind it.
        path = os.path.join(self.dir, "dead.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(path)
        s.close()
        self.assertIn("result -1 errno 111 ECONNREFUSED", self.run_init(path))


class InstalledApiTest(TempDirTest):
    def test_program_builds_with_pkg_config_against_installed_library(self):
        dest = os.path.join(self.dir, "dest")
        r = subprocess.run(["meson", "install", "-C", BUILD_ROOT, "--no-rebuild", "--destdir", dest],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        pcs = [os.path.join(root, f) for root, _, files in os.walk(dest) for f in files if f == "machnet.pc"]
        self.assertEqual(len(pcs), 1, pcs)
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]))
        # The .pc names the real prefix; point it into the destdir as a packager's sysroot would.
        prefix = subprocess.run(["pkg-config", "--variable=prefix", "machnet"], env=env, capture_output=True,
                                text=True, check=True).stdout.strip()
        flags = subprocess.run(["pkg-config", f"--define-variable=prefix={dest}{prefix}", "--cflags", "--libs",
                                "machnet"], env=env, capture_output=True, text=True, check=True).stdout.split()
        self.assertFalse([f for f in flags if "dpdk" in f or "boost" in f], flags)
        src = os.path.join(self.dir, "app.c")
        with open(src, "w") as f:
            f.write(textwrap.dedent("""\
                #include <machnet.h>
                #include <errno.h>
                #include <stdio.h>
                int main(void) {
                  MachnetFlow_t flow = {0};
                  MachnetMsgHdr_t hdr = {0};
                  (void)flow; (void)hdr;
                  if (machnet_init() != 0) { printf("init failed errno=%d: %s\\n", errno, machnet_last_error()); return 1; }
                  void *ch = machnet_attach();
                  if (!ch) { printf("attach failed\\n"); return 1; }
                  MachnetChannelStats_t st;
                  if (machnet_get_channel_stats(ch, &st, sizeof(st)) != 0) return 1;
                  printf("attached channel %u, max message %u\\n", st.channel_id, st.max_message_bytes);
                  return machnet_detach(ch);
                }
                """))
        exe = os.path.join(self.dir, "app")
        # In the sanitizer build the installed library needs the sanitizer runtimes, which
        # must come first: build the application with the same -fsanitize as the library.
        sanitize = os.environ.get("MACHNET_SANITIZE", "none")
        sanitize_flags = [f"-fsanitize={sanitize}"] if sanitize not in ("", "none") else []
        r = subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", src, "-o", exe] + sanitize_flags + flags,
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        libdir = [f[2:] for f in flags if f.startswith("-L")][0]
        # Only the API is exported.
        nm = subprocess.run(["nm", "-D", "--defined-only", os.path.join(libdir, "libmachnet.so.1")],
                            capture_output=True, text=True, check=True).stdout
        exported = sorted(line.split()[-1] for line in nm.splitlines() if " T " in line)
        self.assertTrue(all(s.startswith("machnet_") for s in exported), exported)
        d = self.daemon(NONE_MODE).start()
        r = subprocess.run([exe], env=dict(os.environ, MACHNET_SOCKET=d.app_socket, LD_LIBRARY_PATH=libdir),
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"attached channel \d+, max message 8388608")


if __name__ == "__main__":
    main()
