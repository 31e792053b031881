#!/usr/bin/python3
"""Echo client: sends one message to an echo server and prints the reply.
Usage: echo_client.py [LOCAL_IP [REMOTE_IP [PORT [TEXT]]]] (default 127.0.0.1 127.0.0.1 7000)."""
import sys

import machnet

local, remote, port, text = (sys.argv[1:] + ["127.0.0.1", "127.0.0.1", "7000", "hello"][len(sys.argv) - 1:])[:4]
with machnet.Channel() as ch:
    flow = ch.connect(local, remote, int(port))
    flow.send(text.encode())
    reply = ch.recv(timeout=5.0)
    print("reply:", reply.data.decode() if reply else "(none within 5 s)")
    sys.exit(0 if reply else 1)
