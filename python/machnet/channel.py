"""Channels, flows and messages: the synchronous half of the binding.

A Channel is one machnet_attach(): shared memory with machnetd. Like the C API it is used by
one thread at a time for data (send/recv); control calls (listen, connect, close) may come
from any thread. Every failure raises an OSError subclass chosen by errno (see errors in
docs/bindings.md), with machnet_last_error()'s sentence in the message.
"""

from __future__ import annotations

import ctypes
import errno
import select
import socket
import struct
import threading
import time
from typing import Optional, Union

from . import _lib
from ._lib import CFlow, CIovec, CMsgHdr, lib

Buffer = Union[bytes, bytearray, memoryview]

_init_lock = threading.Lock()
_initialised = False


def init() -> None:
    """Connects this process to machnetd (machnet_init); attach() calls it for you.
    Raises FileNotFoundError (no daemon socket), ConnectionRefusedError, PermissionError."""
    global _initialised
    with _init_lock:
        if not _initialised:
            if lib.machnet_init() != 0:
                _lib.raise_errno("machnet_init")
            _initialised = True


def ip_to_int(ip: str) -> int:
    """Dotted quad to a host-order integer."""
    return struct.unpack("!I", socket.inet_aton(ip))[0]


def int_to_ip(value: int) -> str:
    """Host-order integer to a dotted quad."""
    return socket.inet_ntoa(struct.pack("!I", value))


class Flow:
    """One flow as seen from this side: local_* is this channel, remote_* the peer. Obtained
    from Channel.connect() or from a received Message; send() on a received message's flow
    replies to its sender. Use as a context manager to close it (Channel.close_flow)."""

    __slots__ = ("channel", "_c", "_key")

    def __init__(self, channel: "Channel", c: CFlow) -> None:
        self.channel = channel
        self._c = c  # in sending orientation: src = this side
        self._key = (c.src_ip, c.dst_ip, c.src_port, c.dst_port)

    @property
    def local_ip(self) -> str:
        return int_to_ip(self._c.src_ip)

    @property
    def local_port(self) -> int:
        return self._c.src_port

    @property
    def remote_ip(self) -> str:
        return int_to_ip(self._c.dst_ip)

    @property
    def remote_port(self) -> int:
        return self._c.dst_port

    @property
    def key(self) -> tuple:
        """(local_ip, remote_ip, local_port, remote_port) as host-order integers: hashable."""
        return self._key

    def send(self, data: Buffer, flags: int = 0) -> None:
        """Channel.send() on this flow."""
        self.channel.send(self, data, flags)

    def close(self) -> None:
        """Closes this side's direction in order (machnet_close_flow): what was sent is still
        delivered, then the peer closes its own after delivering what it had queued; a later
        send on the flow is reported by recv() as EPIPE. FileNotFoundError (ENOENT) if the
        channel does not know it (any more)."""
        self.channel.close_flow(self)

    def __enter__(self) -> "Flow":
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.channel.closed:
            try:
                self.close()
            except FileNotFoundError:
                pass  # already closed by the peer or a reset

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Flow) and other.channel is self.channel and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"Flow({self.local_ip}:{self.local_port} -> {self.remote_ip}:{self.remote_port})"


class Message:
    """A received message: data (bytes, or the caller's buffer for recv_into), the flow it
    came on (oriented for replying) and the sender's flags."""

    __slots__ = ("data", "flow", "flags")

    def __init__(self, data: Buffer, flow: Flow, flags: int) -> None:
        self.data = data
        self.flow = flow
        self.flags = flags

    def reply(self, data: Buffer, flags: int = 0) -> None:
        """Sends data back to this message's sender."""
        self.flow.send(data, flags)

    def __repr__(self) -> str:
        return f"Message({len(self.data)} bytes, {self.flow!r}, flags={self.flags})"


def _address_of(buf: Buffer, writable: bool) -> tuple[object, int, object]:
    """(pointer argument, length, keep-alive) of a contiguous buffer, without copying.
    bytes go to ctypes as they are (it passes their internal pointer); read-only buffers
    other than bytes are copied once (ctypes cannot take their address). The common types
    take the short paths: this runs once per message."""
    t = type(buf)
    if t is bytes:
        if writable:
            raise TypeError("recv_into needs a writable buffer")
        return buf, len(buf), buf
    if t is bytearray:
        n = len(buf)
        if n == 0:
            return None, 0, None
        c = ctypes.c_char.from_buffer(buf)  # a transient export: the bytearray stays resizable
        return ctypes.addressof(c), n, c
    mv = buf if isinstance(buf, memoryview) else memoryview(buf)
    n = mv.nbytes
    if n == 0:
        return None, 0, mv
    if mv.readonly:
        if writable:
            raise TypeError("recv_into needs a writable buffer")
        copy = bytes(mv)
        return copy, n, copy
    if not mv.c_contiguous:
        raise BufferError("machnet needs a C-contiguous buffer")
    c = ctypes.c_char.from_buffer(mv)
    return ctypes.addressof(c), n, c


class Channel:
    """A channel to machnetd (machnet_attach). Use as a context manager (or call close()) to
    detach; the daemon also frees it when the process exits. Raises ConnectionError subclasses
    or OSError on attach (ENOSPC: the daemon's channel limit)."""

    def __init__(self) -> None:
        init()
        handle = lib.machnet_attach()
        if not handle:
            _lib.raise_errno("machnet_attach")
        self._h: Optional[int] = handle
        self._fd = -1
        self._flows: dict[tuple, Flow] = {}
        self._scratch: Optional[bytearray] = None
        self._scratch_arr: Optional[ctypes.Array] = None
        self._iov = CIovec()
        self._hdr = CMsgHdr()
        self._hdr.msg_iov = ctypes.pointer(self._iov)
        self._hdr.msg_iovlen = 1
        self._hdr_ref = ctypes.byref(self._hdr)
        self.max_message_bytes = self.stats()["max_message_bytes"]

    # -- lifetime -------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._h is None

    def _handle(self) -> int:
        if self._h is None:
            raise ValueError("the channel is closed")
        return self._h

    def close(self) -> None:
        """Detaches (machnet_detach): listeners and flows go, the descriptor is closed. Safe to
        call twice. Remove fileno() from any event loop first."""
        h, self._h = self._h, None
        if h is not None and lib.machnet_detach(h) != 0:
            err = ctypes.get_errno()
            if err != errno.ENOTCONN:  # the daemon is gone: the mapping is released anyway
                raise _lib.error(err, "machnet_detach")

    def __enter__(self) -> "Channel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -- control --------------------------------------------------------------------------
    def listen(self, local_ip: str, port: int) -> None:
        """Listens on local_ip:port (the daemon's address). OSError EADDRNOTAVAIL (not the
        daemon's address), EADDRINUSE (another channel listens there)."""
        if lib.machnet_listen(self._handle(), local_ip.encode(), port) != 0:
            _lib.raise_errno(f"listen {local_ip}:{port}")

    def connect(self, local_ip: str, remote_ip: str, remote_port: int) -> Flow:
        """Connects a flow and returns it; blocks until the daemon answers (the GIL is
        released). ConnectionRefusedError (nobody listens), TimeoutError, OSError
        EHOSTUNREACH/ENETUNREACH/EADDRNOTAVAIL/EMFILE."""
        c = CFlow()
        if lib.machnet_connect(self._handle(), local_ip.encode(), remote_ip.encode(), remote_port,
                               ctypes.byref(c)) != 0:
            _lib.raise_errno(f"connect {local_ip} -> {remote_ip}:{remote_port}")
        return self._flow(c.src_ip, c.dst_ip, c.src_port, c.dst_port)

    def close_flow(self, flow: Flow) -> None:
        """Closes a flow in order (see Flow.close). FileNotFoundError (ENOENT) if the channel
        has no such flow."""
        if lib.machnet_close_flow(self._handle(), flow._c) != 0:
            _lib.raise_errno(f"close {flow!r}")
        self._flows.pop(flow._key, None)

    def fileno(self) -> int:
        """The channel's pollable descriptor (machnet_channel_fd): readable when a message or a
        flow event may be waiting. Receive until recv() returns None, then wait for
        readability. Owned by the channel: never read, write or close it."""
        if self._fd < 0:
            fd = lib.machnet_channel_fd(self._handle())
            if fd < 0:
                _lib.raise_errno("machnet_channel_fd")
            self._fd = fd
        return self._fd

    def stats(self) -> dict:
        """The channel's counters (machnet_get_channel_stats) as a dict."""
        s = _lib.CChannelStats()
        if lib.machnet_get_channel_stats(self._handle(), ctypes.byref(s), ctypes.sizeof(s)) != 0:
            _lib.raise_errno("machnet_get_channel_stats")
        return {name: getattr(s, name) for name, _ in s._fields_}

    # -- data -----------------------------------------------------------------------------
    def send(self, flow: Flow, data: Buffer, flags: int = 0) -> None:
        """Queues one message (its bytes are copied once, into the channel). Accepts bytes,
        bytearray, memoryview or any C-contiguous buffer. BlockingIOError (ENOBUFS) when the
        channel is full right now (retry later), OSError EMSGSIZE when too long."""
        h = self._handle()
        addr, n, keep = _address_of(data, writable=False)
        if flags == 0:
            r = lib.machnet_send(h, flow._c, addr, n)
        else:
            if isinstance(addr, bytes):  # a struct field wants the address itself
                addr = ctypes.cast(ctypes.c_char_p(addr), ctypes.c_void_p).value
            hdr = CMsgHdr(n, flow._c, ctypes.pointer(CIovec(addr, n)), 1, flags)
            r = lib.machnet_sendmsg(h, ctypes.byref(hdr))
        del keep
        if r != 0:
            _lib.raise_errno("send")

    def recv_into(self, buffer: Buffer) -> Optional[tuple[int, Flow, int]]:
        """Receives the next message into buffer without blocking and without an extra copy.
        Returns (nbytes, flow, flags), or None when nothing is pending. OSError EMSGSIZE when it
        does not fit (it stays queued); ConnectionResetError / TimeoutError when one of the
        channel's flows failed (the exception's `flow` attribute names it)."""
        addr, n, keep = _address_of(buffer, writable=True)
        r = self._recvmsg(addr, n)
        del keep
        if r is None:
            return None
        return r

    def recv(self, timeout: Optional[float] = 0.0) -> Optional[Message]:
        """Receives the next message as bytes. timeout 0 (default): do not wait, None when
        nothing is pending; a number: wait up to that many seconds (None on timeout); None:
        wait forever. Errors as recv_into()."""
        if self._scratch is None:
            self._scratch = bytearray(max(1, self.max_message_bytes))
            self._scratch_arr = (ctypes.c_char * len(self._scratch)).from_buffer(self._scratch)
        deadline = None if timeout is None else time.monotonic() + timeout
        fd = self.fileno() if timeout != 0 else -1  # before receiving: a 0 must leave it armed
        while True:
            r = self._recvmsg(ctypes.addressof(self._scratch_arr), len(self._scratch))
            if r is not None:
                n, flow, flags = r
                return Message(bytes(memoryview(self._scratch)[:n]), flow, flags)
            if timeout == 0:
                return None
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            p = select.poll()
            p.register(fd, select.POLLIN)
            p.poll(None if left is None else max(1, int(left * 1000)))

    def _recvmsg(self, addr: Optional[int], n: int) -> Optional[tuple[int, Flow, int]]:
        self._iov.base = addr
        self._iov.len = n
        r = lib.machnet_recvmsg(self._handle(), self._hdr_ref)
        if r == 0:
            return None
        err = ctypes.get_errno() if r < 0 else 0
        if r < 0 and err not in (errno.ECONNRESET, errno.ETIMEDOUT):
            raise _lib.error(err, "recv")
        f = self._hdr.flow_info
        # Received flows name the sender as src: flip them so that flow.send() replies.
        flow = self._flow(f.dst_ip, f.src_ip, f.dst_port, f.src_port)
        if r < 0:  # a flow event: the flow is gone
            exc = _lib.error(err, "recv")
            exc.flow = flow  # type: ignore[attr-defined]
            self._flows.pop(flow._key, None)
            raise exc
        return self._hdr.msg_size, flow, self._hdr.flags

    def _flow(self, src_ip: int, dst_ip: int, src_port: int, dst_port: int) -> Flow:
        key = (src_ip, dst_ip, src_port, dst_port)
        flow = self._flows.get(key)
        if flow is None:
            if len(self._flows) >= 65536:  # a cache, not a registry: bound it
                self._flows.clear()
            flow = self._flows[key] = Flow(self, CFlow(*key))
        return flow

    def __repr__(self) -> str:
        return f"Channel({'closed' if self.closed else hex(self._h or 0)})"


def attach() -> Channel:
    """A new Channel (machnet_attach)."""
    return Channel()
