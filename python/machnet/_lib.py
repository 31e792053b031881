"""ctypes declarations of libmachnet's C API (machnet.h) and the errno-to-exception mapping.

Private: the public classes are in channel.py and aio.py. The library is found through
MACHNET_LIBRARY (a path, for running from a build tree), else the system's libmachnet.so.1.
ctypes releases the GIL around every call, so a thread blocked in machnet_connect() does not
stop the others.
"""

from __future__ import annotations

import ctypes
import errno
import os
from typing import NoReturn

MSG_MAX_LEN = 8 * 1024 * 1024  # MACHNET_MSG_MAX_LEN


class CFlow(ctypes.Structure):
    """MachnetFlow_t: a flow's 4-tuple in host byte order."""

    _fields_ = [("src_ip", ctypes.c_uint32), ("dst_ip", ctypes.c_uint32),
                ("src_port", ctypes.c_uint16), ("dst_port", ctypes.c_uint16)]


class CIovec(ctypes.Structure):
    """MachnetIovec_t."""

    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


class CMsgHdr(ctypes.Structure):
    """MachnetMsgHdr_t."""

    _fields_ = [("msg_size", ctypes.c_uint32), ("flow_info", CFlow), ("msg_iov", ctypes.POINTER(CIovec)),
                ("msg_iovlen", ctypes.c_size_t), ("flags", ctypes.c_uint16)]


class CChannelStats(ctypes.Structure):
    """MachnetChannelStats_t."""

    _fields_ = [(name, ctypes.c_uint64) for name in (
        "msgs_sent", "bytes_sent", "msgs_received", "bytes_received", "drops_total",
        "drops_bad_ring_index", "drops_bad_buffer_index", "drops_bad_chain", "drops_bad_length",
        "drops_unknown_flow", "drops_bad_free_index", "drops_peer_gone", "drops_receiver_full")] + [
        ("max_message_bytes", ctypes.c_uint32), ("channel_id", ctypes.c_uint32)]


def _load() -> ctypes.CDLL:
    path = os.environ.get("MACHNET_LIBRARY") or "libmachnet.so.1"
    try:
        lib = ctypes.CDLL(path, use_errno=True)
    except OSError as e:
        raise ImportError(f"machnet: cannot load {path} (install libmachnet1, or set MACHNET_LIBRARY "
                          f"to the library's path): {e}") from e
    vp, c_int, c_ssize = ctypes.c_void_p, ctypes.c_int, ctypes.c_ssize_t
    sigs = {
        "machnet_init": (c_int, []),
        "machnet_attach": (vp, []),
        "machnet_listen": (c_int, [vp, ctypes.c_char_p, ctypes.c_uint16]),
        "machnet_connect": (c_int, [vp, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint16, ctypes.POINTER(CFlow)]),
        "machnet_send": (c_int, [vp, CFlow, vp, ctypes.c_size_t]),
        "machnet_sendmsg": (c_int, [vp, ctypes.POINTER(CMsgHdr)]),
        "machnet_recv": (c_ssize, [vp, vp, ctypes.c_size_t, ctypes.POINTER(CFlow)]),
        "machnet_recvmsg": (c_int, [vp, ctypes.POINTER(CMsgHdr)]),
        "machnet_get_channel_stats": (c_int, [vp, ctypes.POINTER(CChannelStats), ctypes.c_size_t]),
        "machnet_channel_fd": (c_int, [vp]),
        "machnet_close_flow": (c_int, [vp, CFlow]),
        "machnet_detach": (c_int, [vp]),
        "machnet_last_error": (ctypes.c_char_p, []),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


lib = _load()

# errno values that have no builtin OSError subclass of their own but a natural one.
_EXTRA = {errno.ENOBUFS: BlockingIOError}


def error(err: int, where: str) -> OSError:
    """The exception for a failed call: OSError's own subclass for the errno
    (ConnectionRefusedError, TimeoutError, ...), BlockingIOError for ENOBUFS, with
    machnet_last_error()'s sentence as the message."""
    detail = (lib.machnet_last_error() or b"").decode(errors="replace")
    msg = f"{where}: {os.strerror(err)}" + (f" ({detail})" if detail else "")
    cls = _EXTRA.get(err)
    return cls(err, msg) if cls else OSError(err, msg)


def raise_errno(where: str) -> NoReturn:
    """Raises error() for the errno the last call left."""
    raise error(ctypes.get_errno(), where)
