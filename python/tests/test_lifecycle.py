"""Channels do not leak: after a Python process exits -- having closed its channels, used
context managers, or simply dropped them -- the daemon lists none of its channels
(machnetctl channels)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import machnet

from conftest import PEER, python_env


def channels_of(daemon, pid: int) -> list:
    return [c for c in daemon.ctl_json("channels")["channels"] if c["pid"] == pid]


def wait_until(pred, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_context_manager_detaches(daemon) -> None:
    import os
    with machnet.Channel() as ch:
        assert channels_of(daemon, os.getpid())
        ch.listen("127.0.0.1", 7200)
    assert not channels_of(daemon, os.getpid())


@pytest.mark.parametrize("hard", [False, True], ids=["normal-exit", "os._exit"])
def test_no_channels_left_after_the_interpreter_exits(daemon, hard: bool) -> None:
    p = subprocess.Popen([sys.executable, PEER, "leak", "--channels", "3"] + (["--hard"] if hard else []),
                         env=python_env(daemon),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("attached 3"), line
        assert len(channels_of(daemon, p.pid)) == 3  # they existed while it ran
        p.stdin.close()  # lets it exit without closing anything itself
        assert p.wait(30) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    wait_until(lambda: not channels_of(daemon, p.pid), 10, "the exited interpreter's channels freed")
