#!/usr/bin/env python3
"""Several engines per daemon ([engine] cores), over a port with two queue pairs that the
daemon does not steer itself: net_af_packet with qpairs=2 on a veth, where the kernel fans
frames out over the two sockets by its own hash. Packets that land on the engine that does
not own their flow must reach the owner through the steering rings.

- two daemons with two engines each, 64 flows (32 opened from each side, on channels spread
  over both engines and to listeners on both engines), messages up to 64 KiB echoed byte-exact
  and in order per flow; `machnetctl flows` lists every flow on exactly one engine, both
  engines hold flows, and the steering counters moved;
- the same exchange with one engine on a one-queue port;
- flows between two channels of one daemon served by different engines (a transport flow
  whose frames go engine to engine through the steering rings) carry 1 B ... 8 MiB
  byte-exact; on the same engine they stay a local copy;
- more cores than the port has queues, or a CPU that does not exist: a clear refusal naming
  [engine] cores;
- where each engine thread may run: a pinned engine on its core only; the shipped one
  unpinned engine (`cores = []`) on every CPU the daemon may use, not on the CPU that DPDK's
  EAL bound the main thread to (both daemons' engines used to share CPU 0);
- a daemon with two engines stops cleanly on SIGTERM, and after kill -9 a new one starts on
  the same port and serves flows again.

Needs root; skips otherwise."""

import os
import signal

from machnet_testlib import main, wait_for
from machnet_topology import (A_IP, B_IP, FLOW_CHECK, FLOW_PORT, Proc, TwoDaemonTest, af_packet_vdev, port_toml)

TWO_ENGINES = "[engine]\ncores = [0, 1]\n"


def engine_cpus(d):
    """{engine thread name: the CPUs it may run on} of daemon `d`, from /proc."""
    out = {}
    task_dir = f"/proc/{d.proc.pid}/task"
    for tid in os.listdir(task_dir):
        try:
            with open(f"{task_dir}/{tid}/comm") as f:
                name = f.read().strip()
            if name.startswith("machnet-eng"):
                out[name] = os.sched_getaffinity(int(tid))
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just ended
    return out


def two_queue_vdev(iface):
    return af_packet_vdev(iface) + ",qpairs=2"


class EnginesTest(TwoDaemonTest):
    def start_with(self, topo, vdev, extra):
        a = self.start_daemon("a", port_toml(vdev(topo.if_a), A_IP, extra=extra), netns=topo.ns_a)
        b = self.start_daemon("b", port_toml(vdev(topo.if_b), B_IP, extra=extra), netns=topo.ns_b)
        return a, b

    def exchange(self, a, b, topo, clients_per_side, flows_per_client, linger_check):
        """Echo servers on two ports of each daemon (their channels land on different engines),
        then clients from both sides at once, each with several flows on one channel. Returns
        the clients' summaries; `linger_check()` runs while every flow is still open."""
        ports = (FLOW_PORT, FLOW_PORT + 1)
        for d, ns, ip in ((a, topo.ns_a, A_IP), (b, topo.ns_b, B_IP)):
            for port in ports:
                self.flow_server(d, ns, ip, port=port, name=f"server-{d.name}-{port}")
        clients = []
        for k in range(clients_per_side):
            for d, ns, local, remote in ((a, topo.ns_a, A_IP, B_IP), (b, topo.ns_b, B_IP, A_IP)):
                args = [FLOW_CHECK, "client", "--local_ip", local, "--remote_ip", remote, "--port", ports[k % 2],
                        "--count", 8 * flows_per_client, "--seed", 100 + k, "--max_size", 65536, "--window", 8,
                        "--flows", flows_per_client, "--timeout_s", 120, "--linger_s", 30]
                clients.append(Proc(self, f"client-{d.name}-{k}", args, self.app_env(d), ns))
        summaries = []
        for c in clients:
            c.wait_line(r'"role":"client"', 150)
            summary = [j for j in c.json_lines() if j.get("role") == "client"][-1]
            self.assertTrue(summary["ok"], f"{c.name}: {summary}\n{c.text()}")
            summaries.append(summary)
        linger_check()
        for c in clients:
            c.kill()
        return summaries

    def flows_by_engine(self, d):
        flows = [f for f in d.ctl_json("flows")["flows"] if f["state"] == "established"]
        keys = [(f["local_port"], f["remote_ip"], f["remote_port"]) for f in flows]
        self.assertEqual(len(keys), len(set(keys)), f"a flow listed twice (on two engines?): {flows}")
        return {f["engine"] for f in flows}, len(flows)

    def test_two_engines_two_queues_64_flows_both_ways(self):
        topo = self.topology()
        a, b = self.start_with(topo, two_queue_vdev, TWO_ENGINES)
        for d in (a, b):
            engines = d.ctl_json("status")["engines"]
            self.assertEqual([(e["id"], e["core"], e["queue"]) for e in engines], [(0, 0, 0), (1, 1, 1)], engines)
            self.assertEqual(engine_cpus(d), {"machnet-eng0": {0}, "machnet-eng1": {1}})
        seen = {}

        def check():
            for d in (a, b):
                seen[d.name] = self.flows_by_engine(d)

        summaries = self.exchange(a, b, topo, clients_per_side=4, flows_per_client=8, linger_check=check)
        self.assertEqual(sum(s["messages"] for s in summaries), 2 * 4 * 64)
        for d in (a, b):
            engines, count = seen[d.name]
            # 32 flows opened here and 32 accepted here: 64 on each daemon.
            self.assertEqual(count, 64, f"{d.name}: {count} established flows")
            self.assertEqual(engines, {0, 1}, f"{d.name}: flows only on engines {engines}")
            # Every frame one engine handed over reached the other (once the wire is quiet).
            def settled():
                stats = d.ctl_json("stats")["engines"]
                moved = [sum(e[k] for e in stats) for k in ("steered_in", "steered_out", "steer_drops")]
                return stats if moved[0] == moved[1] else None
            stats = wait_for(settled, 10, f"{d.name}: steered_in == steered_out")
            self.assertGreater(sum(e["steered_in"] for e in stats), 0, f"{d.name}: nothing was steered: {stats}")
            self.assertEqual(sum(e["steer_drops"] for e in stats), 0, stats)

    def test_one_engine_one_queue_still_carries_the_same_load(self):
        topo = self.topology()
        a, b = self.start_with(topo, af_packet_vdev, "")
        # Unpinned means every CPU we gave the daemon (it inherits ours), not the one the EAL
        # bound its main thread to.
        for d in (a, b):
            self.assertEqual(engine_cpus(d), {"machnet-eng0": os.sched_getaffinity(0)}, d.name)
        seen = {}

        def check():
            for d in (a, b):
                seen[d.name] = self.flows_by_engine(d)

        self.exchange(a, b, topo, clients_per_side=4, flows_per_client=8, linger_check=check)
        for d in (a, b):
            self.assertEqual(seen[d.name], ({0}, 64))
            self.assertEqual(len(d.ctl_json("status")["engines"]), 1)
            # The shipped adaptive_spin_us (15) starts idle spells with a spin while spins pay
            # (engine/spin_policy.h): after this much traffic some spells were spins, and
            # stats says how they ended.
            engine = d.ctl_json("stats")["engines"][0]
            self.assertGreater(engine["spins_caught"] + engine["spins_expired"], 0, engine)

    def test_local_flows_between_two_engines(self):
        topo = self.topology()
        a = self.start_daemon("a", port_toml(two_queue_vdev(topo.if_a), A_IP, extra=TWO_ENGINES), netns=topo.ns_a)
        self.flow_server(a, topo.ns_a, A_IP)  # the first channel: engine 0
        seen = {}

        def check(summary):
            seen["flows"] = a.ctl_json("flows")["flows"]

        # The second channel lands on engine 1: its flows cross to engine 0's listener.
        summary = self.flow_client(a, topo.ns_a, A_IP, A_IP, count=40, seed=21, max_size=1 << 20,
                                   extra=["--flows", 4, "--big", 1, "--big_size", 8 << 20], while_open=check,
                                   name="client-engine1")
        self.assertEqual(summary["messages"], 40)
        mine = [f for f in seen["flows"] if f["local_port"] != FLOW_PORT]
        theirs = [f for f in seen["flows"] if f["local_port"] == FLOW_PORT and f["state"] == "established"]
        self.assertEqual({(f["engine"], f["state"]) for f in mine}, {(1, "established")}, seen["flows"])
        self.assertEqual(len(theirs), 4, seen["flows"])
        self.assertEqual({f["engine"] for f in theirs}, {0}, seen["flows"])
        self.assertGreater(sum(e["loopback"] for e in a.ctl_json("stats")["engines"]), 0)
        # The third channel lands on engine 0 again: a plain local copy.
        self.flow_client(a, topo.ns_a, A_IP, A_IP, count=20, seed=22, max_size=1 << 16, while_open=check,
                         name="client-engine0")
        local = [f for f in seen["flows"] if f["state"] == "local"]
        self.assertEqual({f["engine"] for f in local}, {0}, seen["flows"])
        self.assertEqual(len(local), 2, seen["flows"])

    def refused(self, topo, vdev, extra):
        d = self.daemon(port_toml(vdev(topo.if_a), A_IP, extra=extra), name="refused", netns=topo.ns_a)
        d.start(wait_ready=False)
        rc = d.proc.wait(60)
        d.stop()
        self.assertEqual(rc, 1, d.read_log())
        return d.read_log()

    def test_more_engines_than_queues_or_cpus_is_refused_clearly(self):
        topo = self.topology()
        log = self.refused(topo, af_packet_vdev, TWO_ENGINES)
        self.assertRegex(log, r"\[engine\] cores lists 2 cores .* has only 1 queue pair\(s\)")
        self.assertIn("qpairs=N", log)
        log = self.refused(topo, af_packet_vdev, "[engine]\ncores = [4000]\n")
        self.assertRegex(log, r"\[engine\] cores: CPU 4000 does not exist")

    def test_two_engines_stop_cleanly_and_restart_after_kill(self):
        topo = self.topology()
        a, b = self.start_with(topo, two_queue_vdev, TWO_ENGINES)
        self.assertEqual(b.stop(), 0, b.read_log())
        self.assertIn("stopped", b.read_log())
        a.signal(signal.SIGKILL)
        a.proc.wait(10)
        a2 = self.start_daemon("a2", port_toml(two_queue_vdev(topo.if_a), A_IP, extra=TWO_ENGINES), netns=topo.ns_a)
        b2 = self.start_daemon("b2", port_toml(two_queue_vdev(topo.if_b), B_IP, extra=TWO_ENGINES), netns=topo.ns_b)
        self.flow_server(b2, topo.ns_b, B_IP)
        summary = self.flow_client(a2, topo.ns_a, A_IP, B_IP, count=200, seed=5, max_size=65536, extra=["--flows", 4])
        self.assertEqual(summary["messages"], 200)
        wait_for(lambda: a2.ctl_json("status")["state"] == "running", 5, "a2 running")


if __name__ == "__main__":
    main()
