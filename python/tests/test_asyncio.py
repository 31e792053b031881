"""asyncio over the channel descriptor: serve() echoing for 100 concurrent flows, each flow a
coroutine that sends messages of varying size and awaits every echo byte-exact."""

from __future__ import annotations

import asyncio
import random

import machnet

FLOWS = 100
MESSAGES_PER_FLOW = 20
PORT = 7100


async def echo(msg: machnet.Message) -> bytes:
    return msg.data


async def one_flow(ch: machnet.AsyncChannel, index: int) -> int:
    rng = random.Random(index)
    async with await ch.connect("127.0.0.1", "127.0.0.1", PORT) as flow:
        for i in range(MESSAGES_PER_FLOW):
            data = rng.randbytes(rng.choice([1, 100, 4096, 20000, 70000]))
            await flow.send(data)
            reply = await asyncio.wait_for(flow.recv(), 30)
            assert reply.data == data, (index, i)
    return MESSAGES_PER_FLOW


async def run() -> int:
    async with machnet.AsyncChannel() as server, machnet.AsyncChannel() as client:
        server.listen("127.0.0.1", PORT)
        serving = asyncio.create_task(machnet.serve(server, echo))
        try:
            done = await asyncio.wait_for(asyncio.gather(*(one_flow(client, k) for k in range(FLOWS))), 120)
        finally:
            serving.cancel()
        return sum(done)


def test_asyncio_echo_100_concurrent_flows(daemon) -> None:
    assert asyncio.run(run()) == FLOWS * MESSAGES_PER_FLOW


async def first_message_wakes_recv() -> bytes:
    async with machnet.AsyncChannel() as server, machnet.AsyncChannel() as client:
        server.listen("127.0.0.1", PORT + 1)
        waiter = asyncio.create_task(server.recv())
        await asyncio.sleep(0)  # the loop is now idle in its selector, the reader armed
        flow = await client.connect("127.0.0.1", "127.0.0.1", PORT + 1)
        await flow.send(b"wake up")
        msg = await asyncio.wait_for(waiter, 10)
        return msg.data


def test_await_recv_is_woken_by_a_message(daemon) -> None:
    assert asyncio.run(first_message_wakes_recv()) == b"wake up"
