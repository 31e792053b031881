#!/usr/bin/env python3
"""Per-user limits on the application socket (issue 15, row 9).

Two temporary users (created here, removed afterwards, also on failure) in a temporary
group that owns the daemon's sockets. The hostile one attaches channels, listens on ports
and connects to itself until each [limits] cap refuses it (EDQUOT, counted in
`machnetctl stats --json` "limits"), and holds what it got. Meanwhile the victim user
attaches, listens and connects as if nobody else were there; root is not capped. Once the
hostile application exits its channels, listen ports and ephemeral ports are given back:
the same user gets the same again.

Runs one daemon in mode "none" (flows between channels of the daemon). Needs root."""

import grp
import json
import os
import pwd
import shutil
import subprocess
import textwrap
import time

from machnet_testlib import BUILD_ROOT, SOURCE_ROOT, TempDirTest, main, require_root, wait_for

MAX_CHANNELS = 2
MAX_LISTEN = 2
MAX_EPHEMERAL = 3

# Runs as one user: attaches up to `channels` channels, listens on `ports` ports (from
# `base`), connects `connects` times to its own first port; prints one JSON line of what
# worked and the errno of what did not, then holds everything until stdin closes.
APP = textwrap.dedent("""\
    import json, sys, machnet
    channels, ports, base, connects = (int(a) for a in sys.argv[1:5])
    out = {"attached": 0, "attach_errors": [], "listened": 0, "listen_errors": [],
           "connected": 0, "connect_errors": []}
    held = []
    for _ in range(channels):
        try:
            held.append(machnet.attach()); out["attached"] += 1
        except OSError as e:
            out["attach_errors"].append(e.errno)
    if held:
        for p in range(base, base + ports):
            try:
                held[0].listen("127.0.0.1", p); out["listened"] += 1
            except OSError as e:
                out["listen_errors"].append(e.errno)
        client = held[-1]
        flows = []
        for _ in range(connects):
            try:
                flows.append(client.connect("127.0.0.1", "127.0.0.1", base)); out["connected"] += 1
            except OSError as e:
                out["connect_errors"].append(e.errno)
    print(json.dumps(out), flush=True)
    sys.stdin.read()
    """)

EDQUOT = 122

# Runs as one user: opens `n` idle connections to the application socket and holds them;
# prints, for each, whether the daemon hung up on it within 1 s, then waits for stdin.
IDLE = textwrap.dedent("""\
    import json, os, select, socket, sys
    held, closed = [], []
    for i in range(int(sys.argv[1])):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(os.environ["MACHNET_SOCKET"])
        held.append(s)
    for s in held:
        r, _, _ = select.select([s], [], [], 1.0)
        closed.append(bool(r) and s.recv(64) == b"")
    print(json.dumps({"closed": closed}), flush=True)
    sys.stdin.read()
    """)


def run(cmd, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=check)


class UserLimitsTest(TempDirTest):
    def setUp(self):
        require_root(self)
        super().setUp()
        tag = f"mnu{os.getpid() % 100000}"
        self.group = f"{tag}g"
        run(["groupadd", self.group])
        self.addCleanup(run, ["groupdel", self.group], False)
        self.users = []
        for who in ("h", "v"):
            name = f"{tag}{who}"
            run(["useradd", "-M", "-N", "-g", self.group, "-s", "/usr/sbin/nologin", name])
            self.addCleanup(run, ["userdel", name], False)
            self.users.append(pwd.getpwnam(name))
        os.chmod(self.dir, 0o755)  # the users reach the sockets in it
        self.gid = grp.getgrnam(self.group).gr_gid
        # The users import the Python binding and load libmachnet from copies in that
        # directory: the checkout may sit below one only root may enter (a clone in
        # `mktemp -d`, which is 0700), where their import would fail before any limit is hit.
        self.binding = os.path.join(self.dir, "binding")
        shutil.copytree(os.path.join(SOURCE_ROOT, "python", "machnet"), os.path.join(self.binding, "machnet"))
        self.library = os.path.join(self.binding, "libmachnet.so.1")
        shutil.copy(os.path.join(BUILD_ROOT, "lib", "libmachnet.so"), self.library)

    def app(self, user, channels, ports, base, connects, script=APP, args=None):
        """Starts APP (or `script` with `args`) as `user` (None: root); returns (process, its
        JSON line)."""
        env = dict(os.environ, MACHNET_SOCKET=self.d.app_socket, PYTHONPATH=self.binding, MACHNET_LIBRARY=self.library)
        if os.environ.get("MACHNET_SANITIZE", "none") not in ("", "none"):
            # A sanitized libmachnet in an uninstrumented python3: load the runtimes first (as
            # tests/meson.build does for the python suite); CPython's exit is not our leak.
            libs = [subprocess.run(["cc", f"-print-file-name={lib}"], capture_output=True, text=True).stdout.strip()
                    for lib in ("libasan.so", "libubsan.so")]
            env["LD_PRELOAD"] = ":".join(libs)
            env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
        kwargs = {"user": user.pw_uid, "group": self.gid} if user else {}
        args = args if args is not None else [channels, ports, base, connects]
        p = subprocess.Popen(["/usr/bin/python3", "-c", script] + [str(a) for a in args],
                             env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             **kwargs)
        self.addCleanup(lambda: (p.kill(), p.wait()))
        line = p.stdout.readline()
        if not line:
            p.kill()
            self.fail(f"the app as {user.pw_name if user else 'root'} printed nothing: {p.stderr.read()}")
        return p, json.loads(line)

    def test_one_user_cannot_take_what_others_need(self):
        self.d = self.daemon(f"""
            [limits]
            max_channels_per_user = {MAX_CHANNELS}
            max_listen_ports_per_user = {MAX_LISTEN}
            max_ephemeral_ports_per_user = {MAX_EPHEMERAL}
            """, daemon_toml=f'group = "{self.group}"\n').start()
        hostile, victim = self.users

        h, got = self.app(hostile, 4, 4, 8000, 6)
        self.assertEqual(got["attached"], MAX_CHANNELS, got)
        self.assertEqual(got["attach_errors"], [EDQUOT] * 2, got)
        self.assertEqual(got["listened"], MAX_LISTEN, got)
        self.assertEqual(got["listen_errors"], [EDQUOT] * 2, got)
        self.assertEqual(got["connected"], MAX_EPHEMERAL, got)
        self.assertEqual(got["connect_errors"], [EDQUOT] * 3, got)

        # While the hostile user holds all it may: another user and root are served in full.
        v, vgot = self.app(victim, MAX_CHANNELS, MAX_LISTEN, 9000, MAX_EPHEMERAL)
        self.assertEqual((vgot["attached"], vgot["listened"], vgot["connected"]),
                         (MAX_CHANNELS, MAX_LISTEN, MAX_EPHEMERAL), vgot)
        r, rgot = self.app(None, 4, 4, 9100, 6)
        self.assertEqual((rgot["attached"], rgot["listened"], rgot["connected"]), (4, 4, 6), rgot)

        limits = self.d.ctl_json("stats")["limits"]
        self.assertEqual(limits["attach_refused_max_channels_per_user"], 2, limits)
        self.assertEqual(limits["listen_refused_max_listen_ports_per_user"], 2, limits)
        self.assertEqual(limits["connect_refused_max_ephemeral_ports_per_user"], 3, limits)
        human = self.d.ctl("stats", check=True).stdout
        self.assertIn("attach_refused_max_channels_per_user", human)

        # The hostile app exits: everything it held is given back to its user.
        h.stdin.close()
        h.wait(10)
        wait_for(lambda: self.d.ctl_json("status")["channels"] == 4 + MAX_CHANNELS, 10,
                 "the hostile app's channels to go")
        h2, got2 = self.app(hostile, MAX_CHANNELS, MAX_LISTEN, 8000, MAX_EPHEMERAL)
        self.assertEqual((got2["attached"], got2["listened"], got2["connected"]),
                         (MAX_CHANNELS, MAX_LISTEN, MAX_EPHEMERAL), got2)
        for p in (h2, v, r):
            p.stdin.close()
            p.wait(10)

    def test_one_user_cannot_hold_every_application_connection(self):
        """[limits] max_app_connections_per_user (set to 3 here, the key under test): the
        hostile user's idle connections past it are closed at once; another user's
        application and root's still attach and connect."""
        self.d = self.daemon("""
            [limits]
            max_app_connections_per_user = 3
            """, daemon_toml=f'group = "{self.group}"\n').start()
        hostile, victim = self.users
        h, got = self.app(hostile, 0, 0, 0, 0, script=IDLE, args=[5])
        self.assertEqual(got["closed"], [False, False, False, True, True], got)
        t0 = time.monotonic()
        v, vgot = self.app(victim, 1, 1, 9000, 1)
        self.assertEqual((vgot["attached"], vgot["listened"], vgot["connected"]), (1, 1, 1), vgot)
        self.assertLess(time.monotonic() - t0, 5)
        r, rgot = self.app(None, 0, 0, 0, 0, script=IDLE, args=[5])
        self.assertEqual(rgot["closed"], [False] * 5, "root was capped")
        limits = self.d.ctl_json("stats")["limits"]
        self.assertEqual(limits["connection_refused_max_app_connections_per_user"], 2, limits)
        self.assertIn("max_app_connections_per_user", self.d.read_log())
        # Its connections closed, the user may connect again.
        h.stdin.close()
        h.wait(10)
        wait_for(lambda: self.d.ctl_json("status")["applications"] <= 6, 10, "the hostile connections to go")
        h2, got2 = self.app(hostile, 0, 0, 0, 0, script=IDLE, args=[3])
        self.assertEqual(got2["closed"], [False] * 3, got2)
        for p in (h2, v, r):
            p.stdin.close()
            p.wait(10)


if __name__ == "__main__":
    main()
