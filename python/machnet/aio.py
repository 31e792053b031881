"""asyncio over machnet channels, built on the channel's pollable descriptor.

One reader callback per channel (loop.add_reader on Channel.fileno()) receives until the
channel is empty -- which re-arms the descriptor -- and hands each message to the queue of its
flow when a coroutine waits on that flow (AsyncFlow.recv), else to the channel's queue
(AsyncChannel.recv). Sends that find the channel full (ENOBUFS) are retried after a short
sleep: the daemon gives no signal when room appears.

    async with AsyncChannel() as ch:
        ch.listen("127.0.0.1", 7000)
        await serve(ch, handler)          # handler(msg) -> reply bytes or None
"""

from __future__ import annotations

import asyncio
import collections
from typing import Awaitable, Callable, Deque, Optional, Union

from .channel import Buffer, Channel, Flow, Message

# Sleep between retries of a send that found the channel full, and how long to keep trying.
_SEND_RETRY_S = 0.0002
_SEND_GIVE_UP_S = 10.0


class _Inbox:
    """Messages (or a flow's exception) waiting for one consumer."""

    def __init__(self) -> None:
        self.items: Deque[Union[Message, BaseException]] = collections.deque()
        self.waiter: Optional[asyncio.Future] = None

    def put(self, item: Union[Message, BaseException]) -> None:
        self.items.append(item)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def get(self) -> Message:
        while not self.items:
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None
        item = self.items.popleft()
        if isinstance(item, BaseException):
            raise item
        return item


class AsyncFlow:
    """A flow whose messages are awaited on their own (AsyncChannel.connect or .claim)."""

    def __init__(self, channel: "AsyncChannel", flow: Flow) -> None:
        self.channel = channel
        self.flow = flow
        self._inbox = _Inbox()

    async def recv(self) -> Message:
        """The next message on this flow. ConnectionResetError / TimeoutError if the flow failed."""
        return await self._inbox.get()

    async def send(self, data: Buffer, flags: int = 0) -> None:
        """Sends on this flow, waiting while the channel is full."""
        await self.channel.send(self.flow, data, flags)

    def close(self) -> None:
        """Closes the flow at both ends and stops routing its messages here."""
        self.channel._inboxes.pop(self.flow.key, None)
        self.flow.close()

    async def __aenter__(self) -> "AsyncFlow":
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self.channel.channel.closed:
            try:
                self.close()
            except FileNotFoundError:
                pass


class AsyncChannel:
    """A Channel driven by the running asyncio loop. Create it inside the loop; use it with
    `async with` (or call close()) to detach. Not thread-safe: one loop per channel."""

    def __init__(self, channel: Optional[Channel] = None) -> None:
        self.channel = channel if channel is not None else Channel()
        self._loop = asyncio.get_running_loop()
        self._inbox = _Inbox()
        self._inboxes: dict[tuple, _Inbox] = {}
        self._loop.add_reader(self.channel.fileno(), self._on_readable)
        self._on_readable()  # anything queued before the descriptor existed

    def _on_readable(self) -> None:
        ch = self.channel
        while True:  # until empty: that re-arms the descriptor
            try:
                msg = ch.recv()
            except (ConnectionResetError, TimeoutError) as e:
                flow = getattr(e, "flow", None)
                inbox = self._inboxes.pop(flow.key, None) if flow is not None else None
                (inbox or self._inbox).put(e)
                continue
            except OSError as e:
                self._inbox.put(e)
                return
            if msg is None:
                return
            (self._inboxes.get(msg.flow.key) or self._inbox).put(msg)

    def listen(self, local_ip: str, port: int) -> None:
        """Channel.listen (quick: answered by the local daemon)."""
        self.channel.listen(local_ip, port)

    async def connect(self, local_ip: str, remote_ip: str, remote_port: int) -> AsyncFlow:
        """Connects in a worker thread (the handshake may take a round trip or a timeout) and
        returns the flow, whose replies go to AsyncFlow.recv()."""
        flow = await self._loop.run_in_executor(None, self.channel.connect, local_ip, remote_ip, remote_port)
        return self.claim(flow)

    def claim(self, flow: Flow) -> AsyncFlow:
        """Routes the flow's future messages to a new AsyncFlow instead of recv()."""
        af = AsyncFlow(self, flow)
        self._inboxes[flow.key] = af._inbox
        return af

    async def recv(self) -> Message:
        """The next message of a flow nobody claimed (e.g. on a listener). Flow failures raise
        ConnectionResetError / TimeoutError with the flow in `.flow`."""
        return await self._inbox.get()

    async def send(self, flow: Flow, data: Buffer, flags: int = 0) -> None:
        """Channel.send, retrying while the channel is full (BlockingIOError after 10 s)."""
        waited = 0.0
        while True:
            try:
                self.channel.send(flow, data, flags)
                return
            except BlockingIOError:
                if waited >= _SEND_GIVE_UP_S:
                    raise
                await asyncio.sleep(_SEND_RETRY_S)
                waited += _SEND_RETRY_S

    def close(self) -> None:
        """Stops watching the descriptor and detaches the channel."""
        if not self.channel.closed:
            self._loop.remove_reader(self.channel.fileno())
            self.channel.close()

    async def __aenter__(self) -> "AsyncChannel":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


Handler = Callable[[Message], Awaitable[Optional[Buffer]]]


async def serve(channel: AsyncChannel, handler: Handler, count: Optional[int] = None) -> None:
    """Calls `await handler(msg)` for every message on the channel's unclaimed flows, each in a
    task of its own; a non-None result is sent back to the sender. Runs until cancelled (or
    after `count` messages). Flow failures are skipped: the flow is gone, the server goes on."""
    tasks: set[asyncio.Task] = set()

    async def one(msg: Message) -> None:
        reply = await handler(msg)
        if reply is not None:
            await channel.send(msg.flow, reply)

    served = 0
    try:
        while count is None or served < count:
            try:
                msg = await channel.recv()
            except (ConnectionResetError, TimeoutError):
                continue
            t = asyncio.create_task(one(msg))
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            served += 1
        if tasks:
            await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()
