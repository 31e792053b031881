#!/usr/bin/python3
"""Echo server: listens on IP:PORT and sends every message back to its sender.
Usage: echo_server.py [IP [PORT]] (default 127.0.0.1 7000). Prints "listening" when ready."""
import sys

import machnet

ip, port = (sys.argv[1:] + ["127.0.0.1"])[0], int((sys.argv[2:] + ["7000"])[0])
with machnet.Channel() as ch:
    ch.listen(ip, port)
    print(f"listening on {ip}:{port}", flush=True)
    while True:
        msg = ch.recv(timeout=None)  # sleeps on the channel's descriptor
        msg.reply(msg.data)
