"""Fixtures for the machnet Python tests: one real machnetd per session ([nic] mode = "none",
local delivery), started before the binding connects to it.

libmachnet keeps one connection to one daemon per process, so every in-process test uses this
daemon; tests that need other daemons (test_two_daemons.py) run their Python peers as
subprocesses. Run from Meson (`meson test -C build python`), which sets MACHNETD, MACHNETCTL,
MACHNET_LIBRARY and PYTHONPATH (python/ and tests/lib/).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from typing import Iterator

import pytest

from machnet_testlib import Daemon

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(HERE), "examples")
PEER = os.path.join(HERE, "peer.py")


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    """The session's machnetd; MACHNET_SOCKET points at it for this process and its children."""
    workdir = tempfile.mkdtemp(prefix="machnet-py-")
    d = Daemon(workdir, '[nic]\nmode = "none"\n')
    d.start()
    os.environ["MACHNET_SOCKET"] = d.app_socket
    try:
        yield d
    finally:
        d.stop()
        if os.environ.get("MACHNET_KEEP_TEST_DIRS"):
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def channel_pair(daemon: Daemon, request: pytest.FixtureRequest):
    """(server channel listening on 127.0.0.1:port, client channel, flow client -> server).
    The port is unique per test so listeners of a failed test cannot collide."""
    import machnet

    port = 20000 + (abs(hash(request.node.nodeid)) % 20000)
    server = machnet.Channel()
    client = machnet.Channel()
    try:
        server.listen("127.0.0.1", port)
        flow = client.connect("127.0.0.1", "127.0.0.1", port)
        yield server, client, flow
    finally:
        client.close()
        server.close()


def python_env(daemon: Daemon) -> dict:
    """The environment for a Python child that talks to `daemon`."""
    return dict(os.environ, MACHNET_SOCKET=daemon.app_socket)
