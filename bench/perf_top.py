#!/usr/bin/env python3
"""Top symbols of an engine_bench profile, without the rig's untimed work.

  perf record -e cpu-clock -F 1999 --call-graph dwarf,16384 -o eb.data \
      build/bench/engine_bench --benchmark_min_time=1 --benchmark_filter='Rx/payload:64/'
  perf script -i eb.data -F ip,sym | bench/perf_top.py [N] [--inclusive REGEX...]

perf report would mix in the frames the rig pre-builds while the benchmark's timer is
paused (EngineRig::build_data: headers, payload, UDP checksums) and DPDK's start-up: here a
sample whose call chain passes through them is left out. With the dwarf call graph inlined
functions (raw_sum, parse_udp) appear under their own names. Leaf symbols by default; with
--inclusive, the share of samples with each REGEX anywhere on the stack.
"""
import collections
import re
import sys

UNTIMED = re.compile(r"build_data|PauseTiming|ResumeTiming|rte_eal_init|open_single|EngineRig::EngineRig|"
                     r"EngineRig::connect")


def stacks(lines):
    stack = []
    for line in lines:
        if not line.strip():
            if stack:
                yield stack
            stack = []
            continue
        parts = line.strip().split(None, 1)
        if len(parts) == 2:
            stack.append(re.sub(r"\+0x[0-9a-f]+$", "", parts[1]))
    if stack:
        yield stack


def main(argv):
    top, patterns = 10, []
    if "--inclusive" in argv:
        patterns = argv[argv.index("--inclusive") + 1:]
        argv = argv[:argv.index("--inclusive")]
    if argv:
        top = int(argv[0])
    leaf, incl = collections.Counter(), collections.Counter()
    kept = left_out = 0
    for stack in stacks(sys.stdin):
        if any(UNTIMED.search(s) for s in stack):
            left_out += 1
            continue
        kept += 1
        leaf[stack[0]] += 1
        for p in patterns:
            if any(re.search(p, s) for s in stack):
                incl[p] += 1
    print(f"samples: {kept} kept, {left_out} left out (rig work outside the timed region)")
    for p in patterns:
        print(f"{100.0 * incl[p] / max(kept, 1):6.2f}%  (inclusive) {p}")
    if not patterns:
        for sym, n in leaf.most_common(top):
            print(f"{100.0 * n / max(kept, 1):6.2f}%  {sym[:100]}")


if __name__ == "__main__":
    main(sys.argv[1:])
