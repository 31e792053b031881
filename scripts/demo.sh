#!/usr/bin/env bash
# The main job on its built-in default, with no cloud and no NIC: start machnetd with
# [nic] mode = "none" (local delivery only), show `machnetctl status`, stop it cleanly.
# Everything runs in a temporary directory that is removed afterwards.
set -euo pipefail

cd "$(dirname "$0")/.."
scripts/setup.sh

build_dir="${MACHNET_BUILD_DIR:-build}"
machnetd="$build_dir/daemon/machnetd"
machnetctl="$build_dir/cli/machnetctl"
work=$(mktemp -d /tmp/machnet-demo.XXXXXX)
daemon_pid=""

cleanup() {
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

echo "== machnetctl status"
"$machnetctl" --socket "$work/machnetctl.sock" status

echo "== stopping machnetd"
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_pid=""
echo "== daemon log"
cat "$work/machnetd.log"
echo "demo: done"
