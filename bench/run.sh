#!/usr/bin/env bash
# Request-reply benchmark matrix: msg_gen through machnetd over every virtual link this
# machine has, against kernel UDP and TCP on the same veth, in one run, one table.
#
#   bench/run.sh [--quick] [--runs N] [--duration S] [--sizes "64 1024 65536"]
#                [--windows "1 32"] [--links "kernel-udp kernel-tcp af_packet af_xdp memif local"]
#                [--polling adaptive|busy]   ([engine] polling of every daemon; default adaptive)
#                [--engine-toml 'KEYS']      (more [engine] keys for every daemon, e.g. 'adaptive_spin_us = 20')
#                [--daemon-toml 'TOML']      (more tables for every daemon, e.g. '[transport]\ncongestion_control = "fixed"')
#                [--engines N]               (af_packet/af_xdp daemons: N engines, [engine] cores = [0..N-1],
#                                             af_packet with qpairs=N; other links keep one engine)
#                [--flows F]                 (Machnet rows: msg_gen --num_flows F, the window shared by all)
#                [--rust]                    (memif and local also run rust/machnet/examples/rr: rows memif-rust, local-rust)
#                [--python]                  (memif and local also run python/examples/bench.py: rows memif-python, local-python)
#                [--peer]                    (after memif and af_packet, upstream Machnet on the same kind of link:
#                                             rows upstream-LINK (as shipped) and upstream-yield-LINK (PEER_YIELD=1),
#                                             from ../shared/peer/run-peer.sh; PEER_DIR overrides the directory)
#                [--pin none|split]          (split: side A's daemon and client on CPU 0, side B's daemon and
#                                             server on CPU 1, as upstream's script does by default; --peer
#                                             passes the same placement to it as PEER_CPUS; default none)
#                [--rounds N]                (the whole list of links N times, so ours and upstream alternate;
#                                             the table's medians are over every round's runs; default 1)
#                [--big]                     (the 8 MiB row: --sizes 8388608 --windows 1, one maximum-size
#                                             message at a time each way; later --sizes/--windows override.
#                                             Gbit/s is per direction: the reply carries as much again)
#                [--veth-mtu N]              (the veth's MTU, both ends, for every veth row (kernel too); af_packet's
#                                             framesz is raised to carry it. The daemons' shipped [transport]
#                                             mtu = "auto" takes the interface's. Default: the kernel's 1500)
#                [--no-hugepages]            (daemons with [dpdk] hugepages = "off"; by default the run
#                                             provides 2 MiB hugepages as an operator would, and as
#                                             ../shared/peer/run-peer.sh does for upstream)
#
# Links (rows), each set up once, then every size x window runs against one server:
#   kernel-udp/tcp  bench/kernel_rr between netns P-a (10.77.0.1) and P-b (10.77.0.2), veth
#   af_packet       machnetd in P-a (10.77.0.11) and P-b (10.77.0.12), net_af_packet on the veth,
#                   whose ends carry no kernel address meanwhile (as in upstream's t1)
#   af_xdp          the same with net_af_xdp (skipped, with the reason, when it cannot start)
#   memif           two machnetd's joined by net_memif, no namespaces (10.77.1.11/.12)
#   local           one machnetd with [nic] mode = "none", both apps on 127.0.0.1
#   upstream-memif, upstream-af_packet (and -yield-): with --peer, upstream's daemons and
#                   msg_gen from ../shared/peer (its t2 = memif, t1 = veth + af_packet; windows 1
#                   and 32 only, which is what its script runs). Its rate and percentiles come
#                   from the script's SUMMARY line; CPU per message is measured like ours
#                   (utime+stime of its two daemons, its server and its client over the
#                   measured seconds, divided by the messages of those seconds). Skipped with a
#                   clear reason when the directory is missing.
#   memif-rust, local-rust   with --rust: the same daemons right after, client and server
#                   rust/machnet/examples/rr (msg_gen in Rust over the safe binding; built
#                   with Debian's /usr/bin/cargo --release into $build_dir/rust-target)
# Each cell: --runs runs (default 3) of --duration s (default 5); --quick = 1 run of 2 s.
# The table shows medians over the runs, and CPU time per message (utime+stime from
# /proc/PID/stat before and after each run for daemons and the server; the client reports
# its own getrusage): "daemon" = both daemons, "apps" = client + server. Kernel rows have no
# daemon, and their softirq work is not charged to any process: compare their CPU with care.
#
# DPDK memory: every daemon keeps the shipped [dpdk] settings (hugepages = "auto", memory_mb
# = 512). Unless --no-hugepages, the run first makes 2 MiB hugepages available as an operator
# (or Debian's dpdk.service) would: it raises vm.nr_hugepages to what two daemons need when
# fewer are free and mounts hugetlbfs when nothing is mounted, and undoes both on exit.
# Upstream's script does the same for its daemons; without it ours ran on 4 KiB pages
# against upstream on 2 MiB pages (docs/PERFORMANCE.md). When the pages cannot be had, the
# run says so and goes on without them.
#
# Builds nothing beyond calling scripts/setup.sh when the build directory is missing
# (MACHNET_BUILD_DIR, default build/), and rr with --rust. Needs root (namespaces). Every
# wait is bounded; the EXIT trap stops every process it started and removes the topology.
# Raw per-run JSON goes to $OUT (default a new /tmp/machnet-bench.XXXXXX directory), kept
# after the run with the table and, in $OUT/logs, the daemons' logs and the servers' output.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
build_dir="${MACHNET_BUILD_DIR:-build}"
runs=3
duration=5
sizes="64 1024 65536"
windows="1 32"
links="kernel-udp kernel-tcp af_packet af_xdp memif local"
polling=adaptive
daemon_toml=""
engine_toml=""
engines=1
flows=1
rust=0
python=0
peer=0
peer_run_dir=""
rounds=1
pin=none
hugepages=1
veth_mtu=""
peer_dir="${PEER_DIR:-$(cd "$(dirname "$0")/.." && pwd)/../shared/peer}"
while (($#)); do
  case "$1" in
    --quick) runs=1; duration=2; shift ;;
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --windows) windows=$2; shift 2 ;;
    --links) links=$2; shift 2 ;;
    --polling) polling=$2; shift 2 ;;
    --daemon-toml) daemon_toml=$2; shift 2 ;;
    --engine-toml) engine_toml=$2; shift 2 ;;
    --engines) engines=$2; shift 2 ;;
    --flows) flows=$2; shift 2 ;;
    --rust) rust=1; shift ;;
    --python) python=1; shift ;;
    --peer) peer=1; shift ;;
    --rounds) rounds=$2; shift 2 ;;
    --big) sizes=8388608; windows=1; shift ;;
    --pin) pin=$2; shift 2 ;;
    --no-hugepages) hugepages=0; shift ;;
    --veth-mtu) veth_mtu=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/!p}' "$0"; exit 0 ;;  # the comment block above
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

[[ $pin == none || $pin == split ]] || { echo "run.sh: --pin must be none or split" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "run.sh: needs root (network namespaces)" >&2; exit 1; }
[[ -d "$build_dir" ]] || MACHNET_BUILD_DIR="$build_dir" scripts/setup.sh
machnetd="$root/$build_dir/daemon/machnetd"
machnetctl="$root/$build_dir/cli/machnetctl"
msg_gen="$root/$build_dir/examples/msg_gen"
kernel_rr="$root/$build_dir/bench/kernel_rr"
for b in "$machnetd" "$machnetctl" "$msg_gen" "$kernel_rr"; do
  [[ -x "$b" ]] || { echo "run.sh: $b is missing: meson compile -C $build_dir" >&2; exit 1; }
done
libdir="$root/$build_dir/lib"
rr="$root/$build_dir/rust-target/release/examples/rr"
if ((rust)); then
  if ! MACHNET_LIB_DIR="$libdir" CARGO_TARGET_DIR="$root/$build_dir/rust-target" RUSTC=/usr/bin/rustc \
      /usr/bin/cargo build --offline --locked --release --example rr --manifest-path "$root/rust/Cargo.toml" \
      >/tmp/machnet-bench-cargo.$$.log 2>&1; then
    cat /tmp/machnet-bench-cargo.$$.log >&2
    echo "run.sh: building rust/machnet/examples/rr failed" >&2
    exit 1
  fi
  rm -f /tmp/machnet-bench-cargo.$$.log
fi

OUT="${OUT:-$(mktemp -d /tmp/machnet-bench.XXXXXX)}"
mkdir -p "$OUT"
work=$(mktemp -d /tmp/machnet-bench-work.XXXXXX)
prefix="rr$$"
prefix=${prefix:0:11}
topology_up=0
pids=()         # everything started in the background, stopped by the trap
daemon_pids=()  # the current link's daemons (for the CPU accounting)
server_pid=""

stop_pid() {  # TERM, 5 s grace, then KILL
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_all() {
  local pid sock
  # Each daemon's counters and flows (retransmissions, drops by reason) as the runs left
  # them, for reading a slow or noisy row.
  for sock in "$work"/*-ctl.sock; do
    [[ -S $sock ]] || continue
    "$machnetctl" --socket "$sock" stats --json >"${sock%-ctl.sock}.stats.json" 2>/dev/null || true
    "$machnetctl" --socket "$sock" flows --json >"${sock%-ctl.sock}.flows.json" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  pids=()
  daemon_pids=()
  server_pid=""
}
cleanup() {
  stop_all
  ((topology_up)) && scripts/topology.sh down --prefix "$prefix" >/dev/null 2>&1
  hugepages_restore
  # Daemon logs, configs and server output, for the post-mortem of a failed row.
  mkdir -p "$OUT/logs" && cp "$work"/*.log "$work"/*.out "$work"/*.toml "$work"/*.json "$OUT/logs/" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Hugepages for the daemons (see the header): what two daemons of the shipped memory_mb (read
# from config/machnet.toml, so that the two cannot drift apart) take in 2 MiB pages, plus a
# margin for DPDK's own allocations.
hp_orig=""    # vm.nr_hugepages before we raised it ("" = untouched)
hp_mount=""   # the hugetlbfs mount we made ("" = none)
hp_state="off (--no-hugepages)"
hugetlbfs_mounted() { awk '$3 == "hugetlbfs" {found = 1} END {exit !found}' /proc/mounts; }
hugepages_prepare() {
  ((hugepages)) || return 0
  local shipped_mb want free
  shipped_mb=$(awk -F' *= *' '$1 == "memory_mb" {print $2; exit}' config/machnet.toml)
  want=$((2 * ${shipped_mb:?config/machnet.toml has no memory_mb} / 2 + 64))
  free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
  if ((free < want)); then
    hp_orig=$(cat /proc/sys/vm/nr_hugepages)
    echo $((hp_orig + want - free)) >/proc/sys/vm/nr_hugepages 2>/dev/null || true
    free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
  fi
  if ! hugetlbfs_mounted; then
    mkdir -p "$work/hugepages"
    if mount -t hugetlbfs -o pagesize=2M nodev "$work/hugepages" 2>/dev/null; then hp_mount="$work/hugepages"; fi
  fi
  if ((free >= want)) && hugetlbfs_mounted; then
    hp_state="2 MiB hugepages ($free free)"
  else
    hp_state="NO hugepages: only $free free of $want wanted, or hugetlbfs cannot be mounted; daemons run on 4 KiB pages"
    echo "run.sh: warning: $hp_state" >&2
  fi
}
hugepages_restore() {
  if [[ -n $hp_mount ]]; then umount "$hp_mount" 2>/dev/null || true; fi
  if [[ -n $hp_orig ]]; then echo "$hp_orig" >/proc/sys/vm/nr_hugepages 2>/dev/null || true; fi
}
hugepages_prepare

cpu_ticks() {  # utime+stime of a live process, in clock ticks (0 if gone)
  awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# on_cpu SIDE: the command prefix that places a process of side a or b (--pin split), or none.
on_cpu() {
  [[ $pin == split ]] || return 0
  if [[ $1 == a ]]; then echo "taskset -c 0"; else echo "taskset -c 1"; fi
}

# start_daemon NAME NETNS NIC_TOML: writes $work/NAME.toml, starts machnetd, waits (60 s)
# until its admin socket answers. Returns 1 with the log's last lines in $work/NAME.why.
start_daemon() {
  local name=$1 ns=$2 nic=$3 pid
  local dpdk=""
  ((hugepages)) || dpdk='[dpdk]\nhugepages = "off"\n'
  printf '[daemon]\napp_socket = "%s"\nadmin_socket = "%s"\n%s\n[engine]\npolling = "%s"\n%b\n%b%b\n' \
    "$work/$name.sock" "$work/$name-ctl.sock" "$nic" "$polling" "$engine_toml" "$dpdk" "$daemon_toml" >"$work/$name.toml"
  local side=${name##*-}  # NAME ends in -a or -b
  # shellcheck disable=SC2046 # on_cpu is empty or a command prefix
  if [[ -n "$ns" ]]; then
    ip netns exec "$ns" $(on_cpu "$side") "$machnetd" --config "$work/$name.toml" >"$work/$name.log" 2>&1 &
  else
    $(on_cpu "$side") "$machnetd" --config "$work/$name.toml" >"$work/$name.log" 2>&1 &
  fi
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 600); do
    if "$machnetctl" --socket "$work/$name-ctl.sock" status >/dev/null 2>&1; then
      daemon_pids+=("$pid")
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "machnetd $name exited: $(grep -v '^\s*$' "$work/$name.log" | tail -1)" >"$work/$name.why"
      return 1
    fi
    sleep 0.1
  done
  echo "machnetd $name did not answer within 60 s" >"$work/$name.why"
  return 1
}

# start_server NAME CMD...: starts an echo server, waits (10 s) for its "listening" line.
# CMD must exec into the server (env, ip netns exec) so that its PID is the server's own,
# for the CPU accounting; the EXIT trap bounds its life.
start_server() {
  local name=$1
  shift
  "$@" >"$work/$name.server.out" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 100); do
    grep -q listening "$work/$name.server.out" && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "server did not start: $(tail -1 "$work/$name.server.out")" >"$work/$name.why"
  return 1
}

# record LINK SIZE WINDOW RUN JSON_OR_EMPTY REASON DAEMON_TICKS SERVER_TICKS
records=0
record() {
  records=$((records + 1))
  jq -cn --argjson order "$records" --arg link "$1" --argjson size "$2" --argjson window "$3" --argjson run "$4" \
    --arg json "$5" --arg reason "$6" --argjson dt "$7" --argjson st "$8" --argjson hz "$(getconf CLK_TCK)" '
    ($json | try fromjson catch null) as $r |
    {order: $order, link: $link, size: $size, window: $window, run: $run,
     ok: ($r != null and $r.ok == true),
     reason: (if $r != null and $r.ok != true then ($r.error // $reason) else $reason end),
     result: $r, daemon_cpu_s: ($dt / $hz), server_cpu_s: ($st / $hz)}' >>"$OUT/runs.jsonl"
}

# run_cell LINK SIZE WINDOW CLIENT_CMD...: the runs of one cell.
run_cell() {
  local link=$1 size=$2 window=$3
  shift 3
  local r d0 d1 s0 s1 pid out reason any_ok=0
  for r in $(seq 1 "$runs"); do
    d0=0; for pid in "${daemon_pids[@]}"; do d0=$((d0 + $(cpu_ticks "$pid"))); done
    s0=$(cpu_ticks "$server_pid")
    out="$work/client.json"
    reason=""
    local rc=0
    timeout --kill-after=5 $((duration + 20)) "$@" --msg_size "$size" --msg_window "$window" \
      --duration "$duration" --json >"$out" 2>"$work/client.err" || rc=$?
    if ((rc == 124 || rc == 137)); then
      reason="client killed after $((duration + 20)) s"
    elif ((rc != 0)); then
      reason=$(grep -v '^\[' "$work/client.err" | tail -1 | sed 's/^msg_gen: //; s/^kernel_rr: //; s/^rr: //')
      [[ -n "$reason" ]] || reason="client exited with status $rc"
    fi
    d1=0; for pid in "${daemon_pids[@]}"; do d1=$((d1 + $(cpu_ticks "$pid"))); done
    s1=$(cpu_ticks "$server_pid")
    record "$link" "$size" "$window" "$r" "$(tail -1 "$out")" "$reason" $((d1 - d0)) $((s1 - s0))
    jq -e .ok <<<"$(tail -1 "$OUT/runs.jsonl")" >/dev/null && any_ok=1
    last_reason=$(jq -r .reason <<<"$(tail -1 "$OUT/runs.jsonl")")
    printf '  %-10s %6s B  window %2s  run %s: %s\n' "$link" "$size" "$window" "$r" \
      "$(jq -r 'if .ok then "\(.result.msgs_per_s | floor) msgs/s, p50 \(.result.latency_us.p50) us" else "failed: \(.reason)" end' <<<"$(tail -1 "$OUT/runs.jsonl")")"
  done
  ((any_ok))
}

fail_link() {  # a row per cell that says why the link could not run
  local link=$1 reason=$2 size window
  echo "  $link: failed: $reason"
  for size in $sizes; do for window in $windows; do record "$link" "$size" "$window" 0 "" "$reason" 0 0; done; done
}

# topology [kernel|dpdk]: the veth pair, up once. "kernel" (the default) keeps the kernel's
# addresses on its ends for the kernel rows; "dpdk" takes them off while our daemons own the
# ends, as upstream's script has them (its t1 assigns none): with an address in the daemons'
# subnet the receiving kernel also routes every frame before dropping it (ip_route_input_slow,
# 10 % of the af_packet daemons' samples in the 8 MiB profile).
topology() {
  local use=${1:-kernel}
  if ((topology_up == 0)); then
    scripts/topology.sh up --prefix "$prefix" >"$work/topology.log" 2>&1 || return 1
    topology_up=1
    if [[ -n $veth_mtu ]]; then
      ip -n "$prefix-a" link set dev "$prefix-a0" mtu "$veth_mtu" &&
        ip -n "$prefix-b" link set dev "$prefix-b0" mtu "$veth_mtu" || return 1
    fi
  fi
  local side addr
  for side in a b; do
    if [[ $side == a ]]; then addr=10.77.0.1/24; else addr=10.77.0.2/24; fi
    if [[ $use == dpdk ]]; then
      ip -n "$prefix-$side" addr flush dev "$prefix-${side}0" || return 1
    elif ! ip -n "$prefix-$side" -4 addr show dev "$prefix-${side}0" | grep -q inet; then
      ip -n "$prefix-$side" addr add "$addr" dev "$prefix-${side}0" || return 1
    fi
  done
}

# run_matrix LINK CLIENT_CMD...: every size x window for a link whose server is running.
run_matrix() {
  local link=$1 size window
  shift
  for size in $sizes; do
    for window in $windows; do
      if [[ $link == kernel-udp ]] && ((size > 65507)); then
        record "$link" "$size" "$window" 0 "" "n/a: a UDP datagram carries at most 65507 B" 0 0
        continue
      fi
      if ! run_cell "$link" "$size" "$window" "$@"; then
        # Every run failed: the rest of this link would fail the same way (and may each
        # wait out a timeout). Record them with the reason and move on.
        skip_rest "$link" "$size" "$window" "$last_reason"
        return
      fi
    done
  done
}

# python_matrix LINK SOCKET_CLIENT SOCKET_SERVER CLIENT_IP SERVER_IP: the same cells with the
# Python binding's bench.py (msg_gen's flags and JSON) as client and server, on the link's
# daemons, in row LINK-python; the msg_gen server is stopped first.
python_matrix() {
  ((python)) || return 0
  local py=(env PYTHONPATH="$root/python" MACHNET_LIBRARY="$root/$build_dir/lib/libmachnet.so.1" /usr/bin/python3
            "$root/python/examples/bench.py")
  stop_pid "$server_pid"
  start_server "$1-python" env MACHNET_SOCKET="$3" "${py[@]}" --local_ip "$5" ||
    { fail_link "$1-python" "$(cat "$work/$1-python.why")"; return; }
  run_matrix "$1-python" env MACHNET_SOCKET="$2" "${py[@]}" --local_ip "$4" --remote_ip "$5"
}

skip_rest() {  # LINK SIZE WINDOW REASON: the cells after (SIZE, WINDOW) fail with REASON
  local link=$1 after=0 size window
  for size in $sizes; do
    for window in $windows; do
      ((after)) && record "$link" "$size" "$window" 0 "" "$4" 0 0
      [[ $size == "$2" && $window == "$3" ]] && after=1
    done
  done
  echo "  $link: remaining cells skipped after that failure"
}

# rust_rows LINK SERVER_SOCK SERVER_IP CLIENT_SOCK CLIENT_IP: with --rust, replaces the
# link's msg_gen server by rr's and runs every cell again with rr's client, as LINK-rust,
# against the same daemons.
rust_rows() {
  ((rust)) || return 0
  stop_pid "$server_pid"
  start_server "$1-rust" env MACHNET_SOCKET="$2" LD_LIBRARY_PATH="$libdir" "$rr" --local_ip "$3" ||
    { fail_link "$1-rust" "$(cat "$work/$1-rust.why")"; return; }
  run_matrix "$1-rust" env MACHNET_SOCKET="$4" LD_LIBRARY_PATH="$libdir" "$rr" --local_ip "$5" --remote_ip "$3"
}

veth_daemons() {  # LINK VDEV_A VDEV_B
  local link=$1
  start_daemon "$link-a" "$prefix-a" "$(printf '[nic]\nmode = "vdev"\nvdev = "%s"\nip = "10.77.0.11/24"' "$2")" &&
    start_daemon "$link-b" "$prefix-b" "$(printf '[nic]\nmode = "vdev"\nvdev = "%s"\nip = "10.77.0.12/24"' "$3")"
}

# peer_rows LINK: with --peer, upstream's cells for LINK (memif or af_packet), as shipped and
# with PEER_YIELD=1, each run its own run-peer.sh invocation (it builds and removes its
# topology every time).
peer_rows() {
  ((peer)) || return 0
  local link=$1 topo variant yield name size window e r
  case "$link" in memif) topo=t2 ;; af_packet) topo=t1 ;; *) return 0 ;; esac
  for variant in shipped yield; do
    if [[ $variant == yield ]]; then yield=1; name="upstream-yield-$link"; else yield=0; name="upstream-$link"; fi
    echo "== $name"
    if [[ ! -x "$peer_dir/run-peer.sh" ]]; then
      fail_link "$name" "upstream not found: $peer_dir/run-peer.sh is missing (set PEER_DIR)"
      continue
    fi
    for size in $sizes; do
      for window in $windows; do
        case "$window" in 1) e=e1 ;; 32) e=e2 ;; *)
          record "$name" "$size" "$window" 0 "" "n/a: upstream's script runs windows 1 and 32 only" 0 0; continue ;;
        esac
        for r in $(seq 1 "$runs"); do peer_run "$name" "$topo" "$e" "$yield" "$size" "$window" "$r"; done
      done
    done
  done
}

# peer_run NAME TOPO EXP YIELD SIZE WINDOW RUN: one run-peer.sh, with upstream's processes'
# CPU sampled from /proc over the measured seconds (from its "running" line to just before
# it stops the client).
peer_run() {
  local name=$1 topo=$2 e=$3 yield=$4 size=$5 window=$6 r=$7 log="$work/peer.out" pid bin t0 t1 w0 w1
  local -A c0=() c1=()
  bin="$peer_run_dir/bin"
  : >"$log"
  PEER_CPUS=$pin PEER_YIELD=$yield PEER_MSG_SIZE=$size timeout --kill-after=10 $((duration + 120)) \
    "$peer_dir/run-peer.sh" "$topo" "$e" "$duration" "$peer_run_dir" >"$log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 1200); do grep -q "run-peer: running" "$log" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  peer_ticks() {  # prints "KIND TICKS" for upstream's daemons (d), server (s) and client (c)
    local p cmd
    for p in $(pgrep -f "^$bin/(machnet|msg_gen)( |$)"); do
      cmd=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) || continue
      case "$cmd" in "$bin/machnet"*) echo "d$p $(cpu_ticks "$p")" ;; *--remote_ip*) echo "c$p $(cpu_ticks "$p")" ;;
                     *) echo "s$p $(cpu_ticks "$p")" ;; esac
    done
  }
  if grep -q "run-peer: running" "$log"; then
    w0=$(date +%s.%N)
    while read -r k v; do c0[$k]=$v; done < <(peer_ticks)
    sleep "$(awk -v d="$duration" 'BEGIN { print (d > 1 ? d - 0.5 : d / 2) }')"
    while read -r k v; do c1[$k]=$v; done < <(peer_ticks)
    w1=$(date +%s.%N)
  fi
  wait "$pid" 2>/dev/null || true
  local summary dt=0 st=0 ct=0 k json reason=""
  for k in "${!c1[@]}"; do
    [[ -n "${c0[$k]:-}" ]] || continue
    case "$k" in d*) dt=$((dt + c1[$k] - c0[$k])) ;; s*) st=$((st + c1[$k] - c0[$k])) ;; c*) ct=$((ct + c1[$k] - c0[$k])) ;; esac
  done
  summary=$(grep '^SUMMARY' "$log" | tail -1 || true)
  # SUMMARY t2/e2: rate R msg/s (...); RTT p50/p99/p99.9 = A/B/C us (...)
  json=$(awk -v size="$size" -v w0="${w0:-0}" -v w1="${w1:-0}" -v ct="$ct" -v hz="$(getconf CLK_TCK)" '
    /^SUMMARY/ && / rate / {
      rate = $0; sub(/.* rate /, "", rate); rate += 0
      p = $0; sub(/.*= /, "", p); split(p, q, "[/ ]")
      win = w1 - w0
      if (rate <= 0 || win <= 0) exit
      printf "{\"ok\": true, \"msgs_per_s\": %f, \"gbit_per_s\": %f, \"messages\": %f, \"cpu_s\": %f, ", rate, rate * size * 8 / 1e9, rate * win, ct / hz
      printf "\"latency_us\": {\"p50\": %s, \"p99\": %s, \"p99.9\": %s}}\n", q[1], q[2], q[3]
    }' <<<"$summary")
  [[ -n "$json" ]] || reason=$(grep -E '^run-peer: (error|warning)|^SUMMARY' "$log" | tail -1 || true)
  [[ -n "$json" || -n "$reason" ]] || reason="run-peer.sh gave no SUMMARY (log: $OUT/logs/peer-$name-$size-$window-$r.out)"
  cp "$log" "$work/peer-$name-$size-$window-$r.out"
  record "$name" "$size" "$window" "$r" "$json" "$reason" "$dt" "$st"
  printf '  %-10s %6s B  window %2s  run %s: %s\n' "$name" "$size" "$window" "$r" \
    "$(jq -r 'if .ok then "\(.result.msgs_per_s | floor) msgs/s, p50 \(.result.latency_us.p50) us" else "failed: \(.reason)" end' <<<"$(tail -1 "$OUT/runs.jsonl")")"
}

bench_link() {
  local link=$1 a b
  echo "== $link"
  daemon_pids=()
  case "$link" in
    kernel-udp|kernel-tcp)
      local proto=${link#kernel-}
      topology || { fail_link "$link" "topology.sh up failed: $(tail -1 "$work/topology.log")"; return; }
      # shellcheck disable=SC2046
      start_server "$link" ip netns exec "$prefix-b" $(on_cpu b) "$kernel_rr" --proto "$proto" --local_ip 10.77.0.2 ||
        { fail_link "$link" "$(cat "$work/$link.why")"; return; }
      # shellcheck disable=SC2046
      run_matrix "$link" ip netns exec "$prefix-a" $(on_cpu a) "$kernel_rr" --proto "$proto" --local_ip 10.77.0.1 --remote_ip 10.77.0.2
      ;;
    af_packet|af_xdp)
      topology dpdk || { fail_link "$link" "topology.sh up failed: $(tail -1 "$work/topology.log")"; return; }
      if [[ $link == af_packet ]]; then
        # A ring frame holds the kernel's 80 bytes of header and the frame; blocks of four.
        local frames="blocksz=4096,framesz=2048"
        if [[ -n $veth_mtu ]] && ((veth_mtu + 80 > 2048)); then
          local framesz=$(((veth_mtu + 80 + 1023) / 1024 * 1024))
          frames="blocksz=$((framesz * 4)),framesz=$framesz"
        fi
        a="net_af_packet0,iface=$prefix-a0,$frames,framecnt=512"
        b="net_af_packet0,iface=$prefix-b0,$frames,framecnt=512"
        if ((engines > 1)); then a+=",qpairs=$engines"; b+=",qpairs=$engines"; fi
      else
        a="net_af_xdp0,iface=$prefix-a0"
        b="net_af_xdp0,iface=$prefix-b0"
        if ((engines > 1)); then a+=",queue_count=$engines"; b+=",queue_count=$engines"; fi
      fi
      local saved_engine_toml=$engine_toml
      if ((engines > 1)); then engine_toml+="\ncores = [$(seq -s ', ' 0 $((engines - 1)))]"; fi
      local started=0
      veth_daemons "$link" "$a" "$b" || started=1
      engine_toml=$saved_engine_toml
      ((started == 0)) ||
        { fail_link "$link" "$(cat "$work/$link-a.why" "$work/$link-b.why" 2>/dev/null | head -1)"; stop_all; return; }
      # shellcheck disable=SC2046
      start_server "$link" $(on_cpu b) env MACHNET_SOCKET="$work/$link-b.sock" "$msg_gen" --local_ip 10.77.0.12 ||
        { fail_link "$link" "$(cat "$work/$link.why")"; stop_all; return; }
      # shellcheck disable=SC2046
      run_matrix "$link" $(on_cpu a) env MACHNET_SOCKET="$work/$link-a.sock" "$msg_gen" --local_ip 10.77.0.11 --remote_ip 10.77.0.12 --num_flows "$flows"
      ;;
    memif)
      # The memif server side must exist before the client connects to its socket.
      local memif='[nic]\nmode = "vdev"\nvdev = "net_memif0,role=%s,socket=%s"\nip = "%s"'
      # shellcheck disable=SC2059 # the format is ours
      if ! { start_daemon memif-a "" "$(printf "$memif" server "$work/memif.sock" 10.77.1.11/24)" &&
             start_daemon memif-b "" "$(printf "$memif" client "$work/memif.sock" 10.77.1.12/24)"; }; then
        fail_link "$link" "$(cat "$work/memif-a.why" "$work/memif-b.why" 2>/dev/null | head -1)"
        stop_all
        return
      fi
      # shellcheck disable=SC2046
      start_server "$link" $(on_cpu b) env MACHNET_SOCKET="$work/memif-b.sock" "$msg_gen" --local_ip 10.77.1.12 ||
        { fail_link "$link" "$(cat "$work/$link.why")"; stop_all; return; }
      # shellcheck disable=SC2046
      run_matrix "$link" $(on_cpu a) env MACHNET_SOCKET="$work/memif-a.sock" "$msg_gen" --local_ip 10.77.1.11 --remote_ip 10.77.1.12 --num_flows "$flows"
      rust_rows "$link" "$work/memif-b.sock" 10.77.1.12 "$work/memif-a.sock" 10.77.1.11
      python_matrix "$link" "$work/memif-a.sock" "$work/memif-b.sock" 10.77.1.11 10.77.1.12
      ;;
    local)
      start_daemon local "" "$(printf '[nic]\nmode = "none"\n[cloud]\nprovider = "none"')" ||
        { fail_link "$link" "$(cat "$work/local.why")"; stop_all; return; }
      start_server "$link" env MACHNET_SOCKET="$work/local.sock" "$msg_gen" --local_ip 127.0.0.1 ||
        { fail_link "$link" "$(cat "$work/$link.why")"; stop_all; return; }
      run_matrix "$link" env MACHNET_SOCKET="$work/local.sock" "$msg_gen" --local_ip 127.0.0.1 --remote_ip 127.0.0.1 --num_flows "$flows"
      rust_rows "$link" "$work/local.sock" 127.0.0.1 "$work/local.sock" 127.0.0.1
      python_matrix "$link" "$work/local.sock" "$work/local.sock" 127.0.0.1 127.0.0.1
      ;;
    *) echo "run.sh: unknown link '$link'" >&2; exit 2 ;;
  esac
  stop_all
}

echo "bench/run.sh: $(date -u +%FT%TZ), $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
echo "  $runs run(s) of ${duration}s per cell, placement --pin $pin, engines polling $polling, $engines engine(s) on veth links, $flows flow(s) per client; DPDK memory: $hp_state; veth MTU ${veth_mtu:-1500}; raw results: $OUT/runs.jsonl"
: >"$OUT/runs.jsonl"
if ((peer)); then
  if [[ ! -x "$peer_dir/run-peer.sh" ]]; then
    echo "  --peer: $peer_dir/run-peer.sh not found: the upstream rows are skipped"
  else
    # A private copy of upstream's binaries, run through its script's OUT_DIR argument: a copy
    # of the directory made without symlinks leaves lib/'s links as small text files naming
    # their target (the loader then fails with "file too short"); the copy gets real links.
    peer_run_dir="$work/peer"
    mkdir -p "$peer_run_dir"
    cp -r "$peer_dir/bin" "$peer_dir/lib" "$peer_run_dir/"
    chmod -R u+w "$peer_run_dir"
    for f in "$peer_run_dir"/lib/* "$peer_run_dir"/bin/*; do
      [[ -f $f && ! -L $f ]] && (($(stat -c %s "$f") < 256)) || continue
      target=$(head -c 255 "$f")
      [[ $target != */* && -e "$(dirname "$f")/$target" ]] && ln -sfn "$target" "$f"
    done
    # Upstream's runtime libraries (Debian's DPDK, glog, gflags). run-peer.sh means to install
    # them, but its check runs under pipefail and misses them; ours looks at ldd's output whole.
    ldd_out=$(ldd "$peer_run_dir/bin/machnet" "$peer_run_dir/bin/msg_gen" 2>&1 || true)
    if grep -q "not found" <<<"$ldd_out"; then
      echo "  --peer: installing upstream's runtime libraries (libdpdk-dev libgoogle-glog0v6 libgflags2.2 libunwind8)"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        libdpdk-dev libgoogle-glog0v6 libgflags2.2 libunwind8 >/dev/null ||
        echo "  --peer: installing them failed: the upstream rows will fail" >&2
    fi
  fi
fi
for round in $(seq 1 "$rounds"); do
  ((rounds == 1)) || echo "=== round $round of $rounds"
  for link in $links; do
    bench_link "$link"
    peer_rows "$link"
  done
done

# The table: medians over the successful runs of each cell; a link whose every cell failed
# for the same reason gets one row.
echo
jq -rs '
  def median: sort | if length == 0 then null else .[(length - 1) / 2 | floor] end;
  def f(d): if . == null then "-" else (. * pow(10; d) | round / pow(10; d) | tostring) end;
  def why: if startswith("n/a") then . else "failed: \(.)" end;
  def row: . as $cell | [.[] | select(.ok)] as $ok | .[0] as $c |
    if ($ok | length) == 0 then
      "| \($c.link) | \($c.size) | \($c.window) | \($c.reason | why) | | | | | | | 0/\(length) |"
    else
      "| \($c.link) | \($c.size) | \($c.window) | \($ok | map(.result.msgs_per_s) | median | f(0))" +
      " | \($ok | map(.result.gbit_per_s) | median | f(3))" +
      " | \($ok | map(.result.latency_us.p50) | median | f(1))" +
      " | \($ok | map(.result.latency_us["p99"]) | median | f(1))" +
      " | \($ok | map(.result.latency_us["p99.9"]) | median | f(1))" +
      " | \(if ($c.link | startswith("kernel")) then "-"
            else ($ok | map(.daemon_cpu_s * 1e6 / .result.messages) | median | f(2)) end)" +
      " | \($ok | map((.server_cpu_s + .result.cpu_s) * 1e6 / .result.messages) | median | f(2))" +
      " | \($ok | length)/\(length) |"
    end;
  "| link | size B | window | msgs/s | Gbit/s | p50 us | p99 us | p99.9 us | daemon CPU us/msg | app CPU us/msg | runs ok |",
  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  (group_by(.link) | sort_by(.[0].order) | .[] |
   if (all(.[]; .ok | not)) and ((map(.reason) | unique | length) == 1) and (length > 1) then
     "| \(.[0].link) | all | all | \(.[0].reason | why) | | | | | | | 0/\(length) |"
   else
     group_by([.size, .window]) | sort_by(.[0].order) | .[] | row
   end)' "$OUT/runs.jsonl" | tee "$OUT/table.md"
