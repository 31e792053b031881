#!/usr/bin/env python3
"""A DPDK port for real: machnetd drives one end of a veth pair through net_af_packet, a
plain kernel network namespace holds the other end. The kernel's ping gets replies, the
kernel's ARP table learns the daemon's MAC, frames that are not Machnet are counted as
drops by reason, bad port settings fail the start with a clear error. Needs root."""

import json
import os
import signal
import subprocess
import textwrap
import unittest

from machnet_testlib import TempDirTest, hugepages_hold_mb, main, require_root, wait_for

DAEMON_IP = "10.77.0.2"
KERNEL_IP = "10.77.0.1"


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=30, check=check)


class Topology:
    """Two namespaces joined by a veth pair; removed by down(), also after failures."""

    def __init__(self):
        self.prefix = f"mnt{os.getpid() % 100000}"
        self.daemon_ns = f"{self.prefix}-d"
        self.kernel_ns = f"{self.prefix}-k"
        self.daemon_if = f"{self.prefix}d0"
        self.kernel_if = f"{self.prefix}k0"

    def up(self):
        sh("ip", "netns", "add", self.daemon_ns)
        sh("ip", "netns", "add", self.kernel_ns)
        sh("ip", "link", "add", self.daemon_if, "type", "veth", "peer", "name", self.kernel_if)
        sh("ip", "link", "set", self.daemon_if, "netns", self.daemon_ns)
        sh("ip", "link", "set", self.kernel_if, "netns", self.kernel_ns)
        sh("ip", "-n", self.daemon_ns, "link", "set", self.daemon_if, "up")
        sh("ip", "-n", self.kernel_ns, "link", "set", self.kernel_if, "up")
        sh("ip", "-n", self.kernel_ns, "addr", "add", f"{KERNEL_IP}/24", "dev", self.kernel_if)
        # veth leaves UDP checksums to "hardware" that does not exist: a DPDK receiver would
        # see them unfinished. Make the kernel side compute them, as a real NIC would.
        sh("ip", "netns", "exec", self.kernel_ns, "ethtool", "-K", self.kernel_if, "tx", "off")

    def down(self):
        for ns in (self.daemon_ns, self.kernel_ns):
            pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
            sh("ip", "netns", "del", ns, check=False)

    def in_kernel(self, *cmd, check=True):
        return sh("ip", "netns", "exec", self.kernel_ns, *cmd, check=check)


class PortTest(TempDirTest):
    def setUp(self):
        require_root(self)
        super().setUp()
        self.topo = Topology()
        self.addCleanup(self.topo.down)
        self.topo.up()

    def port_toml(self, ip=f'"{DAEMON_IP}/24"', iface=None, frames="blocksz=4096,framesz=2048,framecnt=512",
                  extra=""):
        iface = iface or self.topo.daemon_if
        return textwrap.dedent(f"""\
            [nic]
            mode = "vdev"
            vdev = "net_af_packet0,iface={iface},{frames}"
            ip = {ip}
            """) + textwrap.dedent(extra)

    def start_daemon(self):
        return self.daemon(self.port_toml(), netns=self.topo.daemon_ns).start(timeout=60)

    def test_status_describes_the_port(self):
        expect_hugepages = hugepages_hold_mb(512)  # read before the daemon takes any
        d = self.start_daemon()
        port = d.ctl_json("status")["port"]
        self.assertEqual(port["name"], "net_af_packet0")
        self.assertEqual(port["driver"], "net_af_packet")
        self.assertEqual(port["ip"], f"{DAEMON_IP}/24")
        # The shipped hugepages = "auto" with memory_mb = 512: hugepages only when they hold it all.
        self.assertEqual(port["hugepages"], expect_hugepages)
        self.assertEqual(port["mtu"], 1500)
        mac = sh("ip", "-n", self.topo.daemon_ns, "-j", "link", "show", self.topo.daemon_if).stdout
        self.assertEqual(port["mac"], json.loads(mac)[0]["address"], "af_packet takes the interface's MAC")

    def test_kernel_ping_gets_replies_and_arp_learns_the_mac(self):
        d = self.start_daemon()
        result = self.topo.in_kernel("ping", "-c", "5", "-i", "0.2", "-W", "2", DAEMON_IP, check=False)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("5 received", result.stdout)
        neigh = json.loads(self.topo.in_kernel("ip", "-j", "neigh", "show", DAEMON_IP).stdout)
        self.assertTrue(neigh, "the kernel has no ARP entry for the daemon")
        self.assertEqual(neigh[0]["lladdr"], d.ctl_json("status")["port"]["mac"])
        stats = d.ctl_json("stats")["port"]
        self.assertGreaterEqual(stats["icmp_echo_answered"], 5)
        self.assertGreaterEqual(stats["arp_requests_answered"], 1)
        self.assertIn("icmp_echo_answered", d.ctl("stats", check=True).stdout)

    def test_foreign_frames_are_dropped_by_reason(self):
        d = self.start_daemon()
        self.topo.in_kernel("ping", "-c", "1", "-W", "2", DAEMON_IP)  # resolves ARP
        # A plain UDP datagram: for us, checksummed, but not Machnet.
        self.topo.in_kernel("python3", "-c", (
            "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
            f"[s.sendto(b'x' * 64, ('{DAEMON_IP}', 9999)) for _ in range(10)]"))
        # A TCP connection attempt: an IP protocol the daemon does not speak.
        self.topo.in_kernel("python3", "-c", (
            "import socket; s = socket.socket(); s.settimeout(0.3)\n"
            f"try: s.connect(('{DAEMON_IP}', 80))\nexcept OSError: pass"))
        def drops():
            return d.ctl_json("stats")["port"]["drops"]
        wait_for(lambda: drops()["bad_magic"] >= 10, 10, "10 bad_magic drops")
        wait_for(lambda: drops()["unsupported_ip_protocol"] >= 1, 10, "a TCP SYN counted")
        self.assertIsNone(d.proc.poll())
        self.assertEqual(d.stop(), 0)

    def test_unsolicited_arp_plants_nothing_and_broadcast_pings_get_our_mac(self):
        """Issue 15, row 10: an ARP reply nobody asked for is not learned; an echo request sent
        to the broadcast MAC is answered from the daemon's own MAC, never the broadcast."""
        d = self.start_daemon()
        self.topo.in_kernel("ping", "-c", "1", "-W", "2", DAEMON_IP)  # both sides know each other
        mac = d.ctl_json("status")["port"]["mac"]
        script = textwrap.dedent(f"""\
            import socket, struct, time
            def csum(b):
                if len(b) % 2: b += b"\\0"
                s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
                while s >> 16: s = (s & 0xffff) + (s >> 16)
                return (~s) & 0xffff
            ip = lambda a: socket.inet_aton(a)
            dmac = bytes.fromhex("{mac.replace(':', '')}")
            fake = bytes.fromhex("020000000077")
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
            s.bind(("{self.topo.kernel_if}", 0))
            me = s.getsockname()[4]
            # An unsolicited ARP reply: 10.77.0.77 is at 02:00:00:00:00:77.
            arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 2) + fake + ip("10.77.0.77") + dmac + ip("{DAEMON_IP}")
            for _ in range(3): s.send(dmac + fake + b"\\x08\\x06" + arp)
            # An echo request to the broadcast MAC, for the daemon's address.
            icmp = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1) + b"x" * 32
            icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
            hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 1, 0, 64, 1, 0, ip("{KERNEL_IP}"), ip("{DAEMON_IP}"))
            hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
            s.send(b"\\xff" * 6 + me + b"\\x08\\x00" + hdr + icmp)
            s.settimeout(0.2)
            deadline = time.time() + 5
            while time.time() < deadline:
                try:
                    f = s.recv(2048)
                except socket.timeout:
                    continue
                if f[12:14] == b"\\x08\\x00" and f[23] == 1 and f[34] == 0 and f[38:40] == b"\\x42\\x42":
                    print("reply-from", f[6:12].hex(":"), "to", f[0:6].hex(":"))
                    break
            """)
        out = self.topo.in_kernel("python3", "-c", script).stdout
        kernel_mac = json.loads(self.topo.in_kernel("ip", "-j", "link", "show", self.topo.kernel_if).stdout)[0]["address"]
        self.assertIn(f"reply-from {mac} to {kernel_mac}", out)
        self.topo.in_kernel("ping", "-c", "1", "-W", "2", DAEMON_IP)  # the ARP frames were handled before this
        arp = d.ctl_json("arp")
        self.assertNotIn("10.77.0.77", [e["ip"] for e in arp["entries"] + arp["pending"]], arp)

    def test_arp_requests_from_many_addresses_fill_the_table_only_to_its_cap(self):
        """A host on the link can make the daemon learn one entry per ARP request addressed to
        it. 1 100 requests from as many addresses: the table stops at its cap (1 024), the
        evictions are counted, and the daemon still answers the kernel."""
        d = self.start_daemon()
        mac = d.ctl_json("status")["port"]["mac"]

        def answered():
            return d.ctl_json("stats")["port"]["arp_requests_answered"]

        # In batches of 100, each answered before the next goes: the port's receive ring
        # (framecnt=512) would drop part of one burst of 1 100 while the engine sleeps.
        for first in range(0, 1100, 100):
            before = answered()
            script = textwrap.dedent(f"""\
                import socket, struct
                s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
                s.bind(("{self.topo.kernel_if}", 0))
                dmac = bytes.fromhex("{mac.replace(':', '')}")
                for i in range({first}, {first + 100}):
                    smac = bytes([2, 0x77, 0, 0, i >> 8, i & 0xff])
                    sip = bytes([10, 77, 100 + (i >> 8), i & 0xff])
                    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + smac + sip + bytes(6) + socket.inet_aton("{DAEMON_IP}")
                    s.send(dmac + smac + b"\\x08\\x06" + arp)
                """)
            self.topo.in_kernel("python3", "-c", script)
            wait_for(lambda: answered() >= before + 100, 10, f"ARP requests {first}-{first + 99} answered")

        got = d.ctl_json("stats")["limits"]
        self.assertEqual(got["arp_table_cap"], 1024, got)
        self.assertEqual(got["arp_table_entries"], 1024, got)
        self.assertGreaterEqual(got["arp_entries_evicted_arp_table_cap"], 1100 - 1024, got)
        arp = d.ctl_json("arp")
        self.assertLessEqual(len(arp["entries"]) + len(arp["pending"]), 1024)
        self.assertIn("arp_entries_evicted_arp_table_cap", d.ctl("stats").stdout, "the human output lists it")
        self.topo.in_kernel("ping", "-c", "1", "-W", "2", DAEMON_IP)
        self.assertIsNone(d.proc.poll())

    def test_vdev_without_an_address_is_refused(self):
        d = self.daemon(self.port_toml(ip='"auto"'), netns=self.topo.daemon_ns)
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(60), 1)
        self.assertIn('[nic] ip must be an address like "10.0.0.4/24" with mode = "vdev"', d.read_log())

    def test_a_port_frame_smaller_than_the_mtu_is_refused_naming_the_keys(self):
        """Issue 14, item 12: framesz=1536 cannot receive a full frame of [transport] mtu =
        1500 (the key under test; af_packet's ring frame holds the kernel's header too). The
        daemon refuses to start, before any traffic, and names both keys and the values that
        would work."""
        d = self.daemon(self.port_toml(frames="blocksz=12288,framesz=1536,framecnt=512",
                                       extra="[transport]\nmtu = 1500\n"), netns=self.topo.daemon_ns)
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(60), 1)
        log = d.read_log()
        for part in ("[nic] vdev", "framesz=1536", "at most 1470 bytes", "[transport] mtu = 1500",
                     "framesz=1580 or more", "[transport] mtu = 1456 or less"):
            self.assertIn(part, log)
        self.assertFalse(os.path.exists(d.admin_socket))

    def test_auto_mtu_is_the_largest_frame_the_ring_takes_and_one_more_byte_is_not(self):
        """The shipped mtu = "auto" with framesz=1536 on a 1500 interface runs at 1456, what
        the ring's frames hold (the value the refusal above suggests), and that limit is the
        real one: a ping filling it is answered; one byte more is cut by the kernel's ring
        and dropped."""
        d = self.daemon(self.port_toml(frames="blocksz=12288,framesz=1536,framecnt=512"),
                        netns=self.topo.daemon_ns).start(timeout=60)
        self.assertEqual(d.ctl_json("status")["port"]["mtu"], 1456)
        self.assertIn(f"MTU 1456 (interface {self.topo.daemon_if}, capped by framesz)", d.read_log())
        # 1456 bytes of IP = 20 IP + 8 ICMP + 1428 data.
        ok = self.topo.in_kernel("ping", "-c", "2", "-W", "2", "-M", "do", "-s", "1428", DAEMON_IP, check=False)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        cut = self.topo.in_kernel("ping", "-c", "2", "-W", "1", "-M", "do", "-s", "1429", DAEMON_IP, check=False)
        self.assertNotEqual(cut.returncode, 0, "a frame one byte over the computed limit was answered: "
                                               "the limit is too low")
        self.assertGreaterEqual(d.ctl_json("stats")["port"]["drops"]["bad_ip_header"], 1)

    def test_an_mtu_beyond_the_interface_is_capped_not_fatal(self):
        """[transport] mtu = 9000 (the key under test) with ring frames that hold it, on an
        interface of MTU 1500: the kernel would refuse every frame over 1500, so the daemon
        runs at the interface's MTU and says so. (It used to pass 9000 to DPDK and fail to
        start with "configure ... failed: Invalid argument".)"""
        d = self.daemon(self.port_toml(frames="blocksz=36864,framesz=9216,framecnt=64",
                                       extra="[transport]\nmtu = 9000\n"), netns=self.topo.daemon_ns).start(timeout=60)
        self.assertEqual(d.ctl_json("status")["port"]["mtu"], 1500)
        self.assertIn(f"MTU 1500 ([transport] mtu = 9000, capped to interface {self.topo.daemon_if}'s MTU)",
                      d.read_log())
        ok = self.topo.in_kernel("ping", "-c", "2", "-W", "2", DAEMON_IP, check=False)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)

    def test_a_jumbo_interface_gives_a_jumbo_mtu_and_its_frames_get_through(self):
        """The shipped mtu = "auto" on an interface of MTU 9000 with ring frames of 9216 (packet
        buffers are sized to hold them: DPDK's af_packet used to refuse any framesz beyond
        its 2 KiB buffers at queue setup): the port runs at 9000, and a ping of a full
        9000-byte packet, unfragmented, is answered."""
        for ns, dev in ((self.topo.daemon_ns, self.topo.daemon_if), (self.topo.kernel_ns, self.topo.kernel_if)):
            sh("ip", "-n", ns, "link", "set", "dev", dev, "mtu", "9000")
        d = self.daemon(self.port_toml(frames="blocksz=36864,framesz=9216,framecnt=64"),
                        netns=self.topo.daemon_ns).start(timeout=60)
        self.assertEqual(d.ctl_json("status")["port"]["mtu"], 9000)
        # 9000 bytes of IP = 20 IP + 8 ICMP + 8972 data.
        ok = self.topo.in_kernel("ping", "-c", "2", "-W", "2", "-M", "do", "-s", "8972", DAEMON_IP, check=False)
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        self.assertGreaterEqual(d.ctl_json("stats")["port"]["icmp_echo_answered"], 2)

    def test_a_framesz_beyond_what_a_packet_buffer_holds_fails_clearly(self):
        """framesz = 131072: no DPDK packet buffer (16-bit data room) can hold its frames. The
        daemon says so before DPDK starts, naming the key and the largest value that fits."""
        toml = self.port_toml(frames="blocksz=131072,framesz=131072,framecnt=16")
        d = self.daemon(toml, netns=self.topo.daemon_ns)
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(60), 1)
        self.assertIn("net_af_packet framesz=131072 needs packet buffers of", d.read_log())
        self.assertIn("set framesz=65439 or less", d.read_log())

    def test_missing_interface_fails_clearly(self):
        d = self.daemon(self.port_toml(iface="nosuchif0"), netns=self.topo.daemon_ns)
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(60), 1)
        log = d.read_log()
        self.assertTrue("DPDK EAL initialisation failed" in log or "DPDK found no port" in log, log)
        self.assertFalse(os.path.exists(d.admin_socket))


if __name__ == "__main__":
    main()
