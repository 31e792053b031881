#!/usr/bin/env bash
# Machnet in one command: two machines' worth of it on one host.
#
#   scripts/demo.sh           # as root: two machnetd's in two network namespaces
#   scripts/demo.sh --local   # one machnetd with [nic] mode = "none" (local delivery only)
#
# Default: scripts/setup.sh (dependencies and build), then scripts/topology.sh builds two
# network namespaces joined by a veth pair, one machnetd in each drives its end through DPDK
# net_af_packet (10.77.0.11 and 10.77.0.12, the shipped [dpdk]: hugepages when enough are
# free, normal pages otherwise), hello_world listens in
# one namespace and the client in the other sends "Hello World!" across; the demo prints
# what arrived; then msg_gen runs 1 KB request-reply for 3 s while `machnetctl flows`
# shows the flow on both daemons. Everything it made (namespaces,
# daemons, the temporary directory) is removed on exit, also on failure or Ctrl-C.
# Exits 1 with a clear message when the message does not cross.
#
# --local: the single-daemon demo (no root, no network): machnetd with [nic] mode = "none",
# hello_world server and client through it on 127.0.0.1, `machnetctl status` and `channels`.
#
# MACHNET_BUILD_DIR selects the build directory (default build/).
set -euo pipefail

cd "$(dirname "$0")/.."

local_mode=0
case "${1:-}" in
  "") ;;
  --local) local_mode=1 ;;
  -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: $0 [--local]" >&2; exit 2 ;;
esac

if ((local_mode == 0)) && [[ $(id -u) -ne 0 ]]; then
  echo "demo: the two-daemon demo needs root (network namespaces, DPDK on a veth)." >&2
  echo "demo: run it with sudo, or run '$0 --local' for the one-daemon demo without root." >&2
  exit 1
fi

scripts/setup.sh

build_dir="${MACHNET_BUILD_DIR:-build}"
machnetd="$build_dir/daemon/machnetd"
machnetctl="$build_dir/cli/machnetctl"
hello_world="$build_dir/examples/hello_world"
msg_gen="$build_dir/examples/msg_gen"
work=$(mktemp -d /tmp/machnet-demo.XXXXXX)
pids=()          # everything we started, stopped by PID in reverse order
prefix="dm$$"    # namespaces dmPID-a, dmPID-b: unique to this run
topology_up=0

stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  set +e
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_pid "${pids[i]}"; done
  ((topology_up)) && scripts/topology.sh down --prefix "$prefix" >/dev/null
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_ctl SOCKET PID NAME: waits (bounded) until the daemon answers on its admin socket.
wait_ctl() {
  local sock=$1 pid=$2 name=$3 log=$4
  for _ in $(seq 1 600); do
    "$machnetctl" --socket "$sock" status >/dev/null 2>&1 && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log" >&2
      echo "demo: $name exited before it was ready (log above)" >&2
      exit 1
    fi
    sleep 0.05
  done
  echo "demo: $name did not answer on $sock within 30 s" >&2
  exit 1
}

# wait_grep PATTERN FILE TRIES: waits (bounded, 50 ms a try) until FILE contains PATTERN.
wait_grep() {
  for _ in $(seq 1 "$3"); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done
  return 1
}

if ((local_mode)); then
  # The shipped local config, with the sockets moved into the demo's own directory so the
  # demo never disturbs a machnetd that may already run on this machine.
  {
    cat config/examples/local.toml
    printf '\n[daemon]\napp_socket = "%s"\nadmin_socket = "%s"\n' "$work/machnet.sock" "$work/machnetctl.sock"
  } >"$work/machnet.toml"

  echo "== machnetd --check-config"
  "$machnetd" --config "$work/machnet.toml" --check-config

  echo "== starting machnetd (NIC mode none)"
  "$machnetd" --config "$work/machnet.toml" 2>"$work/machnetd.log" &
  daemon_pid=$!
  pids+=("$daemon_pid")
  wait_ctl "$work/machnetctl.sock" "$daemon_pid" machnetd "$work/machnetd.log"

  echo "== hello_world: server on 127.0.0.1, client sends \"Hello World!\""
  export MACHNET_SOCKET="$work/machnet.sock"
  "$hello_world" --local 127.0.0.1 >"$work/server.out" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  wait_grep "listening on" "$work/server.out" 200 || { cat "$work/server.out"; echo "demo: the server did not start" >&2; exit 1; }
  timeout 20 "$hello_world" --local 127.0.0.1 --remote 127.0.0.1
  wait_grep "Hello World" "$work/server.out" 100 || true
  echo "server printed:"
  cat "$work/server.out"

  echo "== machnetctl status"
  "$machnetctl" --socket "$work/machnetctl.sock" status
  echo "== machnetctl channels"
  "$machnetctl" --socket "$work/machnetctl.sock" channels
  stop_pid "$server_pid"

  echo "== stopping machnetd"
  kill -TERM "$daemon_pid"
  wait "$daemon_pid"
  echo "== daemon log"
  cat "$work/machnetd.log"
  echo "demo: done"
  exit 0
fi

# ---- two daemons, two namespaces ------------------------------------------------------
ns_a="$prefix-a"
ns_b="$prefix-b"
ip_a=10.77.0.11
ip_b=10.77.0.12

echo "== topology"
topology_up=1
scripts/topology.sh up --prefix "$prefix"

for side in a b; do
  ip=$([[ $side == a ]] && echo $ip_a || echo $ip_b)
  cat >"$work/$side.toml" <<EOF
[daemon]
app_socket = "$work/$side.sock"
admin_socket = "$work/${side}ctl.sock"
[nic]
mode = "vdev"
vdev = "net_af_packet0,iface=$prefix-${side}0,blocksz=4096,framesz=2048,framecnt=512"
ip = "$ip/24"
[cloud]
provider = "none"
EOF
done

echo "== starting machnetd in $ns_a ($ip_a) and in $ns_b ($ip_b), DPDK net_af_packet"
ip netns exec "$ns_a" "$machnetd" --config "$work/a.toml" >"$work/a.log" 2>&1 &
pids+=($!)
pid_a=$!
ip netns exec "$ns_b" "$machnetd" --config "$work/b.toml" >"$work/b.log" 2>&1 &
pids+=($!)
pid_b=$!
wait_ctl "$work/actl.sock" "$pid_a" "machnetd in $ns_a" "$work/a.log"
wait_ctl "$work/bctl.sock" "$pid_b" "machnetd in $ns_b" "$work/b.log"

echo "== hello_world: server in $ns_b on $ip_b, client in $ns_a sends \"Hello World!\""
MACHNET_SOCKET="$work/b.sock" ip netns exec "$ns_b" "$hello_world" --local "$ip_b" --count 1 >"$work/server.out" 2>&1 &
pids+=($!)
wait_grep "listening on" "$work/server.out" 200 || { cat "$work/server.out"; echo "demo: the hello_world server did not start" >&2; exit 1; }
client_rc=0
MACHNET_SOCKET="$work/a.sock" timeout 30 ip netns exec "$ns_a" "$hello_world" --local "$ip_a" --remote "$ip_b" \
  >"$work/client.out" 2>&1 || client_rc=$?
wait_grep "received:" "$work/server.out" 40 || true
echo "client printed:"
sed 's/^/  /' "$work/client.out"
echo "server printed:"
sed 's/^/  /' "$work/server.out"

# A short msg_gen run keeps a flow open, so `machnetctl flows` has something to show.
echo "== msg_gen: 3 s of 1 KB request-reply from $ns_a to $ns_b (window 8), flows shown while it runs"
MACHNET_SOCKET="$work/b.sock" ip netns exec "$ns_b" "$msg_gen" --local_ip "$ip_b" >"$work/msg_gen_server.out" 2>&1 &
pids+=($!)
sleep 0.3
MACHNET_SOCKET="$work/a.sock" timeout 30 ip netns exec "$ns_a" "$msg_gen" --local_ip "$ip_a" --remote_ip "$ip_b" \
  --msg_size 1024 --msg_window 8 --duration 3 >"$work/msg_gen.out" 2>&1 &
msg_gen_pid=$!
pids+=($msg_gen_pid)
sleep 1.5
for side in a b; do
  echo "== machnetctl flows ($([[ $side == a ]] && echo "$ns_a, $ip_a" || echo "$ns_b, $ip_b"))"
  "$machnetctl" --socket "$work/${side}ctl.sock" flows || echo "  (machnetctl flows failed)"
done
wait "$msg_gen_pid" || echo "demo: msg_gen client exited with an error" >&2
echo "== msg_gen summary"
tail -n 3 "$work/msg_gen.out" | sed 's/^/  /'

if ((client_rc != 0)) || ! grep -q "^reply: Hello World!" "$work/client.out" || ! grep -q "^received: Hello World!" "$work/server.out"; then
  echo "== daemon logs (last lines)"
  tail -n 15 "$work/a.log" "$work/b.log"
  echo >&2
  echo "demo: FAILED: \"Hello World!\" did not cross from $ip_a ($ns_a) to $ip_b ($ns_b) and back." >&2
  echo "demo: both daemons started on their ports, but the message did not make the round" >&2
  echo "demo: trip: see the client's error and the daemon logs above (machnetctl stats shows" >&2
  echo "demo: dropped frames by reason). The one-daemon demo needs no network: $0 --local" >&2
  exit 1
fi
echo "demo: \"Hello World!\" crossed from $ns_a to $ns_b and back; done"
