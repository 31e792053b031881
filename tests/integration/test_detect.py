"""[nic] mode = "auto" end to end: a real machnetd detects the cloud and the dedicated NIC
from a fake sysfs/procfs tree and a fake metadata service on 127.0.0.1, binds the NIC,
reports it in `machnetctl status` / `machnetctl detect`, and gives it back on stop, after a
crash (next start, or `machnetd --restore-nic`).

Covers: the daemon's wiring (config keys, start, stop, admin commands, CLI). The kernel's part
(moving `driver` links when bind/unbind are written) is played by a thread in this test.
Leaves out: real drivers and real metadata services (nothing leaves 127.0.0.1), and `ip`
commands, which the daemon only records when [testing] points at a fake tree.
"""

import http.server
import json
import os
import signal
import subprocess
import threading
import time

from machnet_testlib import MACHNETD, SOURCE_ROOT, TempDirTest, main, wait_for

FIXTURES = os.path.join(SOURCE_ROOT, "tests", "nic", "fixtures")
SECONDARY = "0000:00:06.0"


class FakeImds:
    """AWS IMDSv2 on 127.0.0.1 (ephemeral port) serving aws_two_enis.json, or answering 503."""

    def __init__(self, broken=False):
        with open(os.path.join(FIXTURES, "aws_two_enis.json")) as f:
            paths = json.load(f)
        requests = self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, code, body=""):
                data = body.encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self):
                requests.append(("PUT", self.path))
                if broken:
                    return self._answer(503)
                if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                    return self._answer(200, "test-token")
                self._answer(400)

            def do_GET(self):
                requests.append(("GET", self.path))
                if self.headers.get("X-aws-ec2-metadata-token") != "test-token":
                    return self._answer(401)
                if self.path in paths:
                    return self._answer(200, paths[self.path])
                self._answer(404)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class FakeHost:
    """An AWS VM's sysfs and procfs in a temp dir: ens5 (primary ENI, default route) and ens6
    (secondary ENI), both on ena, plus vfio-pci and an IOMMU; and a thread playing the kernel."""

    def __init__(self, root):
        self.root = root
        self.sys = os.path.join(root, "sys")
        self.proc = os.path.join(root, "proc")
        self.detached = {}
        self.kernel_driver = {}
        self.actions = []  # every bind/unbind the daemon wrote, as ("unbind", "ena", address)
        w = self.write
        w("class/dmi/id/sys_vendor", "Amazon EC2\n")
        w("class/dmi/id/bios_vendor", "Amazon EC2\n")
        w("class/dmi/id/product_name", "c5n.xlarge\n")
        os.makedirs(os.path.join(self.sys, "class/iommu/dmar0"))
        for drv in ("ena", "vfio-pci"):
            for f in ("bind", "unbind"):
                w(f"bus/pci/drivers/{drv}/{f}", "")
        self.nic("0000:00:05.0", "ens5", "02:1a:2b:3c:4d:01")
        self.nic(SECONDARY, "ens6", "02:1a:2b:3c:4d:02")
        os.makedirs(os.path.join(self.proc, "net"))
        with open(os.path.join(self.proc, "net/route"), "w") as f:
            f.write("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
                    "ens5\t00000000\t01201FAC\t0003\t0\t0\t100\t00000000\t0\t0\t0\n")
        self.stop_kernel = threading.Event()
        self.kernel = threading.Thread(target=self._kernel_loop, daemon=True)
        self.kernel.start()

    def write(self, rel, text):
        path = os.path.join(self.sys, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)

    def link(self, target, at):
        os.makedirs(os.path.dirname(at), exist_ok=True)
        os.symlink(target, at)

    def dev(self, address):
        return os.path.join(self.sys, "devices/pci0000:00", address)

    def nic(self, address, ifname, mac):
        dev = self.dev(address)
        self.write(f"devices/pci0000:00/{address}/class", "0x020000\n")
        self.write(f"devices/pci0000:00/{address}/driver_override", "(null)\n")
        self.link(os.path.join(self.sys, "bus/pci"), os.path.join(dev, "subsystem"))
        self.link(dev, os.path.join(self.sys, "bus/pci/devices", address))
        self.link(os.path.join(self.sys, "bus/pci/drivers/ena"), os.path.join(dev, "driver"))
        net = os.path.join(dev, "net", ifname)
        for name, text in (("address", mac + "\n"), ("mtu", "9001\n"), ("flags", "0x1003\n")):
            self.write(os.path.relpath(os.path.join(net, name), self.sys), text)
        self.link(dev, os.path.join(net, "device"))
        self.link(net, os.path.join(self.sys, "class/net", ifname))
        self.kernel_driver[address] = "ena"

    def driver_of(self, address):
        try:
            return os.path.basename(os.readlink(os.path.join(self.dev(address), "driver")))
        except FileNotFoundError:
            return None

    def _kernel_loop(self):
        drivers = os.path.join(self.sys, "bus/pci/drivers")
        while not self.stop_kernel.is_set():
            for drv in os.listdir(drivers):
                for op in ("unbind", "bind"):
                    path = os.path.join(drivers, drv, op)
                    with open(path) as f:
                        address = f.read().strip()
                    if not address:
                        continue
                    open(path, "w").close()
                    self._act(op, drv, address)
            time.sleep(0.005)

    def add_default_route(self, ifname, gateway_hex, metric):
        """One more default route, as cloud-init gives every NIC (metric 100, 200, ...)."""
        with open(os.path.join(self.proc, "net/route"), "a") as f:
            f.write(f"{ifname}\t00000000\t{gateway_hex}\t0003\t0\t0\t{metric}\t00000000\t0\t0\t0\n")

    def _act(self, op, drv, address):
        self.actions.append((op, drv, address))
        dev = self.dev(address)
        if op == "unbind":
            os.unlink(os.path.join(dev, "driver"))
            netdir = os.path.join(dev, "net")
            if os.path.isdir(netdir):
                for name in os.listdir(netdir):
                    os.unlink(os.path.join(self.sys, "class/net", name))
                os.rename(netdir, os.path.join(dev, ".net-detached"))
        else:
            os.symlink(os.path.join(self.sys, "bus/pci/drivers", drv), os.path.join(dev, "driver"))
            stash = os.path.join(dev, ".net-detached")
            if drv == self.kernel_driver.get(address) and os.path.isdir(stash):
                os.rename(stash, os.path.join(dev, "net"))
                for name in os.listdir(os.path.join(dev, "net")):
                    os.symlink(os.path.join(dev, "net", name), os.path.join(self.sys, "class/net", name))

    def close(self):
        self.stop_kernel.set()
        self.kernel.join()


class DetectTest(TempDirTest):
    def setUp(self):
        super().setUp()
        self.host = FakeHost(os.path.join(self.dir, "host"))
        self.addCleanup(self.host.close)
        self.state_dir = os.path.join(self.dir, "state")
        self.state_file = os.path.join(self.state_dir, "nic-state.json")

    def imds(self, broken=False):
        server = FakeImds(broken)
        self.addCleanup(server.close)
        return server

    def toml(self, url, extra_nic=""):
        return f"""
            [nic]
            mode = "auto"
            {extra_nic}
            [cloud]
            metadata_url = "{url}"
            metadata_timeout_ms = 500
            [testing]
            enabled = true
            sysfs_root = "{self.host.sys}"
            proc_root = "{self.host.proc}"
            """

    def auto_daemon(self, url, **kwargs):
        return self.daemon(self.toml(url), daemon_toml=f'state_dir = "{self.state_dir}"\n', **kwargs)

    def machnetd(self, config_path, *args):
        return subprocess.run([MACHNETD, "--config", config_path] + list(args),
                              capture_output=True, text=True, timeout=60)

    def test_start_binds_reports_and_restores_on_stop(self):
        imds = self.imds()
        d = self.auto_daemon(imds.url)
        d.start()
        self.assertEqual(self.host.driver_of(SECONDARY), "vfio-pci", d.read_log())
        self.assertEqual(self.host.driver_of("0000:00:05.0"), "ena", "the primary ENI must be untouched")
        self.assertTrue(os.path.exists(self.state_file))
        # mode = "auto" hands the chosen NIC to the DPDK port; a fake tree has no device
        # behind it, so the daemon names what it would open instead.
        self.assertIn(f"not opening the DPDK port on {SECONDARY} (172.31.20.30/20)", d.read_log())

        status = d.ctl_json("status")
        self.assertEqual(status["cloud"], "aws")
        self.assertEqual(status["nic"]["name"], "ens6")
        self.assertEqual(status["nic"]["mac"], "02:1a:2b:3c:4d:02")
        self.assertEqual(status["nic"]["ip"], "172.31.20.30/20")
        self.assertEqual(status["nic"]["bus_address"], SECONDARY)
        self.assertTrue(status["nic"]["bound_by_daemon"])
        human = d.ctl("status")
        self.assertEqual(human.returncode, 0, human.stderr)
        self.assertIn("aws", human.stdout)
        self.assertIn("ens6 mac 02:1a:2b:3c:4d:02 ip 172.31.20.30/20", human.stdout)

        # A detection now sees the NIC on vfio-pci and would use it as it is.
        report = d.ctl_json("detect")
        self.assertEqual(report["cloud"], "aws")
        self.assertEqual(report["chosen"]["bus_address"], SECONDARY)
        self.assertEqual(report["plan"]["kind"], "use-as-bound")
        names = {n["name"]: n for n in report["nics"]}
        self.assertIn("default route", names["ens5"]["reason"])
        self.assertTrue(names["ens5"]["primary"])
        text = d.ctl("detect")
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("Plan:     use-as-bound", text.stdout)

        self.assertEqual(d.stop(), 0, d.read_log())
        self.assertEqual(self.host.driver_of(SECONDARY), "ena", d.read_log())
        self.assertTrue(os.path.exists(os.path.join(self.host.sys, "class/net/ens6")))
        self.assertFalse(os.path.exists(self.state_file))
        self.assertTrue(any(m == ("PUT", "/latest/api/token") for m in imds.requests))

    def test_machnetd_detect_changes_nothing(self):
        imds = self.imds()
        d = self.auto_daemon(imds.url, notify=False)  # only for its config file
        result = self.machnetd(d.config_path, "--detect", "--json")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        report = json.loads(result.stdout)
        self.assertEqual(report["cloud"], "aws")
        self.assertIn("Amazon EC2", report["cloud_reason"])
        self.assertIn("confirmed by the metadata service", report["cloud_reason"])
        self.assertEqual(report["instance"]["id"], "i-0abc1234def567890")
        self.assertEqual(report["chosen"]["name"], "ens6")
        self.assertEqual(report["chosen"]["ip"], "172.31.20.30/20")
        self.assertEqual(report["plan"]["kind"], "rebind")
        self.assertEqual(report["plan"]["to_driver"], "vfio-pci")
        self.assertEqual(self.host.driver_of(SECONDARY), "ena")
        self.assertFalse(os.path.exists(self.state_file))
        text = self.machnetd(d.config_path, "--detect")
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("Cloud:    aws", text.stdout)
        self.assertIn("* ens6", text.stdout)
        self.assertIn(f"  DPDK:   -a {SECONDARY}\n", text.stdout)
        self.assertIn("ip 172.31.20.30/20 from the metadata service", text.stdout)
        self.assertIn("write-combining", text.stdout)

    def test_crash_then_restore_nic_and_restart(self):
        imds = self.imds()
        d = self.auto_daemon(imds.url)
        d.start()
        self.assertEqual(self.host.driver_of(SECONDARY), "vfio-pci", d.read_log())
        d.signal(signal.SIGKILL)
        d.proc.wait(10)
        self.assertEqual(self.host.driver_of(SECONDARY), "vfio-pci")
        self.assertTrue(os.path.exists(self.state_file))

        # ExecStopPost= path.
        result = self.machnetd(d.config_path, "--restore-nic")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("restored to ena", result.stdout)
        self.assertEqual(self.host.driver_of(SECONDARY), "ena")
        self.assertFalse(os.path.exists(self.state_file))

        # Crash again; this time the next start finds the record, restores, and binds afresh.
        second = self.auto_daemon(imds.url, name="second")
        second.start()
        second.signal(signal.SIGKILL)
        second.proc.wait(10)
        third = self.auto_daemon(imds.url, name="third")
        third.start()
        self.assertIn("found a NIC state record from a previous run", third.read_log())
        self.assertEqual(self.host.driver_of(SECONDARY), "vfio-pci")
        self.assertEqual(third.stop(), 0)
        self.assertEqual(self.host.driver_of(SECONDARY), "ena")

    def test_broken_metadata_refuses_start_with_clear_error(self):
        imds = self.imds(broken=True)
        d = self.auto_daemon(imds.url)
        d.start(wait_ready=False)
        code = d.proc.wait(30)
        self.assertEqual(code, 1)
        log = d.read_log()
        # 503 is retried with doubling pauses (100, 200, 400 ms) inside 3 x metadata_timeout_ms.
        self.assertRegex(log, r"metadata service not usable after \d+ attempts in \d+ ms")
        self.assertIn("HTTP 503", log)
        self.assertEqual(log.count("gave no usable answer; every start waits as long"), 1, log)
        self.assertIn("set [nic] mac or pci", log)
        self.assertEqual(self.host.driver_of(SECONDARY), "ena")

    def test_broken_metadata_falls_back_to_config(self):
        imds = self.imds(broken=True)
        d = self.daemon(self.toml(imds.url, 'mac = "02:1a:2b:3c:4d:02"\nip = "172.31.20.30/20"'),
                        daemon_toml=f'state_dir = "{self.state_dir}"\n')
        d.start()
        status = d.ctl_json("status")
        self.assertEqual(status["cloud"], "aws")
        self.assertEqual(status["nic"]["name"], "ens6")
        self.assertEqual(status["nic"]["ip"], "172.31.20.30/20")
        self.assertEqual(self.host.driver_of(SECONDARY), "vfio-pci")

    def test_second_default_route_qualifies_and_status_shows_drivers(self):
        # cloud-init: ens5 metric 100 (primary), ens6 metric 200 via 172.31.16.1.
        self.host.add_default_route("ens6", "01101FAC", 200)
        imds = self.imds()
        d = self.auto_daemon(imds.url)
        d.start()
        self.assertEqual(self.host.driver_of(SECONDARY), "vfio-pci", d.read_log())
        self.assertEqual(self.host.driver_of("0000:00:05.0"), "ena")
        with open(self.state_file) as f:
            record = json.load(f)
        self.assertEqual(record["routes"], [{"gateway": "172.31.16.1", "metric": 200}])
        self.assertIn("write-combining", d.read_log())
        status = d.ctl_json("status")
        self.assertEqual(status["nic"]["name"], "ens6")
        self.assertEqual(status["nic"]["driver"], "vfio-pci")
        self.assertEqual(status["nic"]["original_driver"], "ena")
        human = d.ctl("status")
        self.assertIn("NIC driver: vfio-pci (originally ena)", human.stdout)
        self.assertEqual(d.stop(), 0, d.read_log())
        self.assertEqual(self.host.driver_of(SECONDARY), "ena")
        self.assertEqual(self.host.actions, [("unbind", "ena", SECONDARY), ("bind", "vfio-pci", SECONDARY),
                                             ("unbind", "vfio-pci", SECONDARY), ("bind", "ena", SECONDARY)])

    def test_refusal_changes_nothing(self):
        # [nic] fallback after a metadata failure, no [nic] ip and no address: refused before
        # no-IOMMU mode and before the unbind.
        import shutil
        shutil.rmtree(os.path.join(self.host.sys, "class/iommu"))
        self.host.write("module/vfio/parameters/enable_unsafe_noiommu_mode", "N\n")
        imds = self.imds(broken=True)
        d = self.daemon(self.toml(imds.url, 'mac = "02:1a:2b:3c:4d:02"\nallow_noiommu = true'),
                        daemon_toml=f'state_dir = "{self.state_dir}"\n')
        d.start(wait_ready=False)
        self.assertEqual(d.proc.wait(30), 1)
        log = d.read_log()
        self.assertIn("no IPv4 address is known for ens6", log)
        self.assertIn("the metadata service failed", log)
        self.assertIn("set [nic] ip", log)
        self.assertEqual(self.host.actions, [])
        self.assertEqual(self.host.driver_of(SECONDARY), "ena")
        self.assertFalse(os.path.exists(self.state_file))
        with open(os.path.join(self.host.sys, "module/vfio/parameters/enable_unsafe_noiommu_mode")) as f:
            self.assertEqual(f.read(), "N\n")


if __name__ == "__main__":
    main()
