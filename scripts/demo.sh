#!/usr/bin/env bash
# The main job on its built-in default, with no cloud and no NIC: start machnetd with
# [nic] mode = "none" (local delivery only), run the hello_world server and client through
# it, show `machnetctl status` and `machnetctl channels`, stop it cleanly.
# Everything runs in a temporary directory that is removed afterwards.
set -euo pipefail

cd "$(dirname "$0")/.."
scripts/setup.sh

build_dir="${MACHNET_BUILD_DIR:-build}"
machnetd="$build_dir/daemon/machnetd"
machnetctl="$build_dir/cli/machnetctl"
work=$(mktemp -d /tmp/machnet-demo.XXXXXX)
hello_world="$build_dir/examples/hello_world"
daemon_pid=""
server_pid=""

cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true
  if [[ -n "$daemon_pid" ]] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

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

# Wait (bounded) until the daemon answers on its admin socket.
for _ in $(seq 1 100); do
  "$machnetctl" --socket "$work/machnetctl.sock" status >/dev/null 2>&1 && break
  kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/machnetd.log"; echo "demo: machnetd exited" >&2; exit 1; }
  sleep 0.05
done

echo "== hello_world: server on 127.0.0.1, client sends \"Hello World!\""
export MACHNET_SOCKET="$work/machnet.sock"
"$hello_world" --local 127.0.0.1 >"$work/server.out" 2>&1 &
server_pid=$!
# The client needs the server listening: wait (bounded) until its channel shows up.
for _ in $(seq 1 100); do
  "$machnetctl" --socket "$work/machnetctl.sock" --json status 2>/dev/null | grep -q '"channels": 1' && break
  sleep 0.05
done
timeout 20 "$hello_world" --local 127.0.0.1 --remote 127.0.0.1
for _ in $(seq 1 100); do grep -q "Hello World" "$work/server.out" && break; sleep 0.05; done
echo "server printed:"
cat "$work/server.out"

echo "== machnetctl status"
"$machnetctl" --socket "$work/machnetctl.sock" status
echo "== machnetctl channels"
"$machnetctl" --socket "$work/machnetctl.sock" channels
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""

echo "== stopping machnetd"
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=""
echo "== daemon log"
cat "$work/machnetd.log"
echo "demo: done"
