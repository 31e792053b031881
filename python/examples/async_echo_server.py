#!/usr/bin/python3
"""asyncio echo server: a coroutine per message, on the channel's descriptor.
Usage: async_echo_server.py [IP [PORT]] (default 127.0.0.1 7000)."""
import asyncio
import sys

import machnet


async def echo(msg: machnet.Message) -> bytes:
    return msg.data  # the reply goes back to the sender


async def main(ip: str, port: int) -> None:
    async with machnet.AsyncChannel() as ch:
        ch.listen(ip, port)
        print(f"listening on {ip}:{port}", flush=True)
        await machnet.serve(ch, echo)

asyncio.run(main((sys.argv[1:] + ["127.0.0.1"])[0], int((sys.argv[2:] + ["7000"])[0])))
