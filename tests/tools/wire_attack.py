#!/usr/bin/env python3
"""Hand-made Machnet frames from a raw socket, for the tests of hostile peers (issue 15).

Runs in the attacker's network namespace, on the interface of the link to the daemon under
attack; the frames' source MAC is that interface's, so the daemon's answers come back to
the link (and die there when the source addresses are forged). Standard library only.

    wire_attack.py IFACE DST_MAC DST_IP DST_PORT MODE [options]

Modes:
  syn-flood  SYNs from every (--sources address, port 20000 + i < --ports), again and again
             for --seconds (row 2).
  announce   one flow per --sources address (port 30000): a SYN, then the first segment of a
             --msg-len byte message, then silence (row 3).
  gaps       --ports flows from the first --sources address: a SYN each, then segments
             seq + 1 ... seq + --gap-segments of each, never seq itself (row 4).
Prints one line "sent N" when done.

A flow here needs no answer from the daemon: an accepting daemon is established at the SYN,
and expects data from the SYN's sequence number on (docs/wire-protocol.md)."""

import argparse
import socket
import struct
import time

MAGIC, VERSION = 0x4D4E, 1
SYN, DATA, FIRST = 1 << 0, 1 << 4, 1 << 5


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class Frames:
    def __init__(self, sock, dst_mac, dst_ip, dst_port):
        self.sock = sock
        self.src_mac = sock.getsockname()[4]
        self.dst_mac = bytes.fromhex(dst_mac.replace(":", ""))
        self.dst_ip = dst_ip
        self.dst_port = dst_port
        self.ip_id = 0
        self.sent = 0

    def build(self, src_ip, sport, flags, conn_id, seq, msg_len=0, payload=b"", tsval=1):
        # magic, version, flags, conn_id, seq, ack, sack, tsval, tsecr, window, reserved, msg_len
        mh = struct.pack("!HBBIII16sIIHHI", MAGIC, VERSION, flags, conn_id, seq, 0, bytes(16), tsval, 0, 64, 0,
                         msg_len) + payload
        udp_len = 8 + len(mh)
        pseudo = socket.inet_aton(src_ip) + socket.inet_aton(self.dst_ip) + struct.pack("!BBH", 0, 17, udp_len)
        udp = struct.pack("!HHHH", sport, self.dst_port, udp_len, 0) + mh
        udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, self.ip_id, 0, 64, 17, 0, socket.inet_aton(src_ip),
                         socket.inet_aton(self.dst_ip))
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        return self.dst_mac + self.src_mac + b"\x08\x00" + ip + udp

    def send_all(self, frames):
        for i, f in enumerate(frames):
            self.sock.send(f)
            self.sent += 1
            if i % 100 == 99:
                time.sleep(0.005)  # the daemon's af_packet ring holds 512 frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("iface")
    ap.add_argument("dst_mac")
    ap.add_argument("dst_ip")
    ap.add_argument("dst_port", type=int)
    ap.add_argument("mode", choices=["syn-flood", "announce", "gaps"])
    ap.add_argument("--sources", required=True, help="comma-separated source addresses")
    ap.add_argument("--ports", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--msg-len", type=int, default=8 << 20)
    ap.add_argument("--gap-segments", type=int, default=127)
    a = ap.parse_args()

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    sock.bind((a.iface, 0))
    fr = Frames(sock, a.dst_mac, a.dst_ip, a.dst_port)
    sources = a.sources.split(",")

    if a.mode == "syn-flood":
        syns = [fr.build(src, 20000 + p, SYN, (n << 16) | p | 0x40000000, 1000 + p)
                for n, src in enumerate(sources) for p in range(a.ports)]
        end = time.time() + a.seconds
        while time.time() < end:
            fr.send_all(syns)
            time.sleep(0.1)
    elif a.mode == "announce":
        for n, src in enumerate(sources):
            conn_id, seq = 0x50000000 | n, 5000
            first = bytes(range(256)) * 4  # 1 KiB of the announced message, then nothing
            fr.send_all([fr.build(src, 30000, SYN, conn_id, seq),
                         fr.build(src, 30000, DATA | FIRST, conn_id, seq, msg_len=a.msg_len, payload=first, tsval=2)])
    else:  # gaps
        src = sources[0]
        frames = []
        for p in range(a.ports):
            conn_id, seq = 0x60000000 | p, 7000
            frames.append(fr.build(src, 40000 + p, SYN, conn_id, seq))
            frames += [fr.build(src, 40000 + p, DATA, conn_id, seq + k, payload=b"x", tsval=1 + k)
                       for k in range(1, a.gap_segments + 1)]
        fr.send_all(frames)
    print("sent", fr.sent, flush=True)


if __name__ == "__main__":
    main()
