#!/usr/bin/env bash
# Builds (or removes) the two-namespace test topology that two machnetd's talk across.
#
#   scripts/topology.sh up   [--prefix P] [--wire] [--loss PCT] [--dup PCT] [--corrupt PCT]
#   scripts/topology.sh down [--prefix P]
#
# up, plain:  netns P-a [P-a0 10.77.0.1/24] <--veth--> [P-b0 10.77.0.2/24] netns P-b
# up --wire:  netns P-a [P-a0] <--veth--> [P-wa] netns P-w [P-wb] <--veth--> [P-b0] netns P-b
#             P-w holds an nftables netdev table (table "wire") that forwards every frame
#             from P-wa to P-wb and back ("fwd to"), after optionally dropping (--loss),
#             duplicating (--dup) or corrupting one payload byte (--corrupt) of a random
#             share of the frames (numgen random mod 10000 < PCT*100). Counters on every rule:
#             `ip netns exec P-w nft list table netdev wire`.
# The kernel addresses (.1, .2) are for ping and debugging; the daemons use 10.77.0.11 (in
# P-a, on P-a0) and 10.77.0.12 (in P-b, on P-b0) through DPDK (net_af_packet / net_af_xdp).
# Transmit checksum offload is turned off on every veth: veth would otherwise leave UDP
# checksums unfinished and a DPDK receiver would see them wrong.
#
# down kills every process still inside the namespaces (by PID), detaches XDP programs a
# killed DPDK process may have left, and deletes the namespaces; it succeeds when nothing
# is there, so it also cleans up after an `up` that failed half way. P defaults to "mn"; at
# most 11 characters (interface names are limited to 15).
set -euo pipefail

usage() {
  echo "usage: $0 up|down [--prefix P] [--wire] [--loss PCT] [--dup PCT] [--corrupt PCT]" >&2
  exit 2
}

(($# >= 1)) || usage
action=$1
shift
prefix=mn
wire=0
loss=0
dup=0
corrupt=0
while (($#)); do
  case "$1" in
    --prefix) (($# >= 2)) || usage; prefix=$2; shift 2 ;;
    --wire) wire=1; shift ;;
    --loss) (($# >= 2)) || usage; loss=$2; wire=1; shift 2 ;;
    --dup) (($# >= 2)) || usage; dup=$2; wire=1; shift 2 ;;
    --corrupt) (($# >= 2)) || usage; corrupt=$2; wire=1; shift 2 ;;
    -h|--help) usage ;;
    *) echo "topology.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$action" == up || "$action" == down ]] || usage

if [[ $(id -u) -ne 0 ]]; then
  echo "topology.sh: must run as root (it creates network namespaces and veth pairs); try: sudo $0 $action ..." >&2
  exit 1
fi
if [[ ! "$prefix" =~ ^[A-Za-z0-9][A-Za-z0-9_]{0,10}$ ]]; then
  echo "topology.sh: --prefix must be 1 to 11 letters, digits or _ (got '$prefix')" >&2
  exit 2
fi
for tool in ip ethtool; do
  command -v "$tool" >/dev/null || { echo "topology.sh: '$tool' not found; run scripts/setup.sh" >&2; exit 1; }
done

ns_a="$prefix-a"
ns_b="$prefix-b"
ns_w="$prefix-w"
if_a="$prefix-a0"
if_b="$prefix-b0"
if_wa="$prefix-wa"
if_wb="$prefix-wb"

# PCT (0..100, decimals allowed) to N out of 10000.
per_10000() {
  local name=$1 value=$2
  if [[ ! "$value" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
    echo "topology.sh: --$name takes a percentage (0 to 100), got '$value'" >&2
    exit 2
  fi
  awk -v p="$value" -v n="$name" 'BEGIN {
    if (p > 100) { print "topology.sh: --" n " must be at most 100" > "/dev/stderr"; exit 2 }
    printf "%d\n", p * 100 + 0.5 }'
}

ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }

down() {
  local ns pid dev
  for ns in "$ns_a" "$ns_b" "$ns_w"; do
    ns_exists "$ns" || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do
      kill -KILL "$pid" 2>/dev/null || true
    done
    # An AF_XDP program outlives a killed DPDK process: detach it before the veth goes.
    for dev in $(ip -n "$ns" -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}'); do
      [[ "$dev" == lo ]] && continue
      ip -n "$ns" link set dev "$dev" xdp off 2>/dev/null || true
    done
    ip netns del "$ns" 2>/dev/null || true
    echo "topology: removed netns $ns"
  done
  # A veth whose move into a namespace failed half way stays in the root namespace.
  for dev in "$if_a" "$if_b" "$if_wa" "$if_wb"; do
    if ip link show dev "$dev" >/dev/null 2>&1; then
      ip link del dev "$dev" 2>/dev/null || true
      echo "topology: removed stray $dev"
    fi
  done
}

if [[ "$action" == down ]]; then
  down
  exit 0
fi

loss_n=$(per_10000 loss "$loss")
dup_n=$(per_10000 dup "$dup")
corrupt_n=$(per_10000 corrupt "$corrupt")

for ns in "$ns_a" "$ns_b" "$ns_w"; do
  if ns_exists "$ns"; then
    echo "topology.sh: netns $ns already exists; run '$0 down --prefix $prefix' first" >&2
    exit 1
  fi
done

# A failed up leaves nothing behind.
trap 'rc=$?; if ((rc != 0)); then echo "topology.sh: up failed, cleaning up" >&2; down >/dev/null 2>&1 || true; fi' EXIT

# end NS IF ADDR: the interface up, the kernel address on it, no IPv6 chatter, tx csum done
# in software.
end_setup() {
  local ns=$1 dev=$2 addr=$3
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
  [[ -n "$addr" ]] && ip -n "$ns" addr add "$addr" dev "$dev"
  ip netns exec "$ns" ethtool -K "$dev" tx off >/dev/null
  ip -n "$ns" link set "$dev" up
}

ip netns add "$ns_a"
ip netns add "$ns_b"
if ((wire == 0)); then
  ip link add "$if_a" netns "$ns_a" type veth peer name "$if_b" netns "$ns_b"
  end_setup "$ns_a" "$if_a" 10.77.0.1/24
  end_setup "$ns_b" "$if_b" 10.77.0.2/24
else
  command -v nft >/dev/null || { echo "topology.sh: 'nft' not found (package nftables); run scripts/setup.sh" >&2; exit 1; }
  ip netns add "$ns_w"
  ip link add "$if_a" netns "$ns_a" type veth peer name "$if_wa" netns "$ns_w"
  ip link add "$if_b" netns "$ns_b" type veth peer name "$if_wb" netns "$ns_w"
  end_setup "$ns_a" "$if_a" 10.77.0.1/24
  end_setup "$ns_b" "$if_b" 10.77.0.2/24
  end_setup "$ns_w" "$if_wa" ""
  end_setup "$ns_w" "$if_wb" ""
  # One ingress chain per side. Order: drop, then duplicate, then corrupt, then forward.
  # The corruption overwrites byte 16 of the UDP payload (inside the Machnet header or the
  # data) with 0xa5 on UDP frames only, without fixing the UDP checksum: the receiver must
  # notice. A frame that already had 0xa5 there is counted but unchanged.
  chance() { (($1 >= 10000)) || echo "numgen random mod 10000 < $1 "; }
  chain_rules() {
    local out=$1
    ((loss_n > 0)) && echo "    $(chance "$loss_n")counter drop"
    ((dup_n > 0)) && echo "    $(chance "$dup_n")counter dup to \"$out\""
    ((corrupt_n > 0)) && echo "    meta l4proto udp $(chance "$corrupt_n")counter @th,192,8 set 0xa5"
    echo "    counter fwd to \"$out\""
  }
  {
    echo "table netdev wire {"
    echo "  chain from_a {"
    echo "    type filter hook ingress device \"$if_wa\" priority 0; policy accept;"
    chain_rules "$if_wb"
    echo "  }"
    echo "  chain from_b {"
    echo "    type filter hook ingress device \"$if_wb\" priority 0; policy accept;"
    chain_rules "$if_wa"
    echo "  }"
    echo "}"
  } >"/tmp/topology-$prefix.nft.$$"
  if ! ip netns exec "$ns_w" nft -f "/tmp/topology-$prefix.nft.$$"; then
    echo "topology.sh: nft rejected the wire rules:" >&2
    cat "/tmp/topology-$prefix.nft.$$" >&2
    rm -f "/tmp/topology-$prefix.nft.$$"
    exit 1
  fi
  rm -f "/tmp/topology-$prefix.nft.$$"
fi
trap - EXIT

echo "topology: netns $ns_a: $if_a $(ip -n "$ns_a" -br link show dev "$if_a" | awk '{print $2, $3}') kernel 10.77.0.1/24, daemon address 10.77.0.11"
echo "topology: netns $ns_b: $if_b $(ip -n "$ns_b" -br link show dev "$if_b" | awk '{print $2, $3}') kernel 10.77.0.2/24, daemon address 10.77.0.12"
if ((wire)); then
  echo "topology: netns $ns_w: wire $if_wa <-> $if_wb (nftables netdev table 'wire'): loss ${loss}% dup ${dup}% corrupt ${corrupt}%"
  echo "topology: $if_a <-> $if_wa, $if_b <-> $if_wb"
else
  echo "topology: $if_a <-> $if_b (veth)"
fi
echo "topology: tx checksum offload off on every veth; remove with: $0 down --prefix $prefix"
