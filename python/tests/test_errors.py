"""Errors are raised as docs/bindings.md documents: the OSError subclass for the errno, with
errno set and machnet_last_error()'s sentence in the message."""

from __future__ import annotations

import errno
import os
import select
import subprocess
import sys

import pytest

import machnet


def test_connect_to_nobody_is_refused(daemon) -> None:
    with machnet.Channel() as ch:
        with pytest.raises(ConnectionRefusedError) as e:
            ch.connect("127.0.0.1", "127.0.0.1", 9)
        assert e.value.errno == errno.ECONNREFUSED and "connect" in str(e.value)


def test_listen_errors(daemon) -> None:
    with machnet.Channel() as a, machnet.Channel() as b:
        with pytest.raises(OSError) as e:
            a.listen("10.9.9.9", 7000)
        assert e.value.errno == errno.EADDRNOTAVAIL
        a.listen("127.0.0.1", 7001)
        with pytest.raises(OSError) as e:
            b.listen("127.0.0.1", 7001)
        assert e.value.errno == errno.EADDRINUSE
        with pytest.raises(OSError):
            a.listen("not an address", 7002)


def test_message_size_errors(channel_pair) -> None:
    server, client, flow = channel_pair
    with pytest.raises(OSError) as e:
        flow.send(bytes(machnet.MSG_MAX_LEN + 1))
    assert e.value.errno == errno.EMSGSIZE
    server.fileno()
    assert server.recv() is None  # empty and armed: the send below makes the descriptor readable
    flow.send(b"0123456789")
    small = bytearray(4)
    assert select.select([server.fileno()], [], [], 5.0)[0]
    with pytest.raises(OSError) as e:
        server.recv_into(small)
    assert e.value.errno == errno.EMSGSIZE
    assert server.recv(timeout=5.0).data == b"0123456789"  # nothing was lost or cut


def test_send_until_full_raises_blocking_io_error(channel_pair) -> None:
    server, client, flow = channel_pair
    chunk = bytes(1 << 20)
    with pytest.raises(BlockingIOError) as e:
        for _ in range(10000):
            flow.send(chunk)
    assert e.value.errno == errno.ENOBUFS


def test_closed_channel_and_unknown_flow(daemon) -> None:
    ch = machnet.Channel()
    other = machnet.Channel()
    other.listen("127.0.0.1", 7003)
    flow = ch.connect("127.0.0.1", "127.0.0.1", 7003)
    flow.close()
    with pytest.raises(FileNotFoundError) as e:
        flow.close()
    assert e.value.errno == errno.ENOENT
    ch.close()
    ch.close()  # twice is fine
    with pytest.raises(ValueError):
        ch.recv()
    with pytest.raises(ValueError):
        flow.send(b"x")
    other.close()


def test_no_daemon_raises_file_not_found(tmp_path) -> None:
    code = ("import machnet\ntry:\n    machnet.Channel()\nexcept FileNotFoundError as e:\n"
            "    print('ENOENT', e.errno, e)\n")
    env = dict(os.environ, MACHNET_SOCKET=str(tmp_path / "nothing.sock"))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert f"ENOENT {errno.ENOENT}" in r.stdout and "is machnetd running?" in r.stdout
