"""machnet: Python bindings for libmachnet (kernel-bypass messaging through machnetd).

    import machnet
    with machnet.Channel() as ch:
        flow = ch.connect("10.0.0.2", "10.0.0.1", 7000)
        flow.send(b"hello")
        print(ch.recv(timeout=1.0).data)

Synchronous API: Channel, Flow, Message (machnet.channel). asyncio: AsyncChannel, AsyncFlow
and serve() (machnet.aio), built on Channel.fileno(), the channel's pollable descriptor.
Errors are OSError subclasses chosen by errno. Needs only the standard library and
libmachnet.so.1 (MACHNET_LIBRARY overrides the path).
"""

from ._lib import MSG_MAX_LEN
from .aio import AsyncChannel, AsyncFlow, serve
from .channel import Channel, Flow, Message, attach, init, int_to_ip, ip_to_int

__all__ = ["MSG_MAX_LEN", "AsyncChannel", "AsyncFlow", "Channel", "Flow", "Message", "attach", "init",
           "int_to_ip", "ip_to_int", "serve"]
__version__ = "0.1.0"
