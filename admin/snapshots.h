// What the daemon reports on its admin socket, as plain structs: the one definition of the
// admin protocol's rows (docs/control-protocol.md). Engines and the port fill them on
// their own threads and hand them over by value; daemon/control/ turns them into JSON and
// machnetctl reads JSON back into them (snapshots_json.h), so the field names live in one
// place. No JSON, DPDK or daemon type here: cli/ includes this file too.
//
// Optional members are keys the daemon sends only sometimes (a local flow has no transport
// counters; the fault counters exist only with [testing] fault injection on). Within
// protocol version 1 members are only added, never renamed or retyped.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace machnet::admin {

// The transport's view of a flow to another machine (absent for flows between two channels
// of this daemon, which skip the transport).
struct FlowTransportCounters {
  uint64_t tx_msgs = 0, tx_bytes = 0, rx_msgs = 0, rx_bytes = 0;
  uint64_t tx_packets = 0, rx_packets = 0;
  uint64_t retransmissions = 0, rto_timeouts = 0, fast_retransmits = 0, spurious_timeouts = 0;
  // Loss recovery without the RTO (RACK-TLP): holes found by the reorder timer, tail-loss
  // probes sent and those that repaired a loss, loss episodes (one window cut each).
  uint64_t rack_timer_losses = 0, tlp_probes = 0, tlp_recoveries = 0, recoveries = 0;
  uint64_t rx_duplicates = 0, rx_out_of_order = 0, rx_no_room = 0, protocol_errors = 0;
  uint64_t rx_hold_refused = 0;  // packets not kept: the engine's share of held buffers was used up
  uint64_t window_probes = 0, window_updates = 0;  // persist probes sent; window updates sent
  uint64_t keepalive_probes = 0;  // probes of a peer silent for [transport] keepalive_ms
  uint32_t srtt_us = 0, rttvar_us = 0, rto_us = 0;  // 0: no sample yet
  // cwnd: congestion window; peer_window: the window the peer advertised (what holds our
  // sending back: 0 = its reader is behind); rx_window: the window we advertised last.
  uint32_t cwnd = 0, peer_window = 0, rx_window = 0, inflight = 0, queued_msgs = 0;
  std::string error;  // why the flow failed; empty while it is fine
};

// One row of `flows`.
struct FlowRow {
  uint32_t engine = 0;  // the engine (thread and queue) that owns the flow
  std::string local_ip;
  uint16_t local_port = 0;
  std::string remote_ip;
  uint16_t remote_port = 0;
  std::string state;  // arp, syn_sent, established, closing, reset, local, closed, ...
  std::string role;   // client or server
  uint32_t channel = 0;
  std::optional<int32_t> pid;          // added by the control thread from the channel's owner
  std::optional<std::string> command;  // likewise
  std::optional<FlowTransportCounters> transport;  // flows across the wire only
  std::optional<uint64_t> ended_s_ago;             // failed flows kept on show for a while
};

struct FlowTable {
  std::vector<FlowRow> flows;  // `count` on the wire is flows.size()
};

// `arp`: the port's neighbour table.
struct ArpEntry {
  std::string ip, mac;
  uint64_t age_ms = 0;  // since learned or refreshed
};
struct ArpPending {
  std::string ip;
  uint64_t waiting_ms = 0;  // since the first request
};
struct ArpSnapshot {
  std::vector<ArpEntry> entries;
  std::vector<ArpPending> pending;
};

// Test-only fault injection ([testing]): what the injector did so far.
struct FaultCounters {
  uint64_t dropped_rx = 0, dropped_tx = 0, duplicated = 0, reordered = 0;
};

// The ethdev's own counters (rte_eth_stats).
struct DeviceCounters {
  uint64_t ipackets = 0, opackets = 0, ibytes = 0, obytes = 0;
  uint64_t imissed = 0, ierrors = 0, oerrors = 0, rx_nombuf = 0;
};

// `stats` "port": the engine side of the port, plus what the control thread adds from the
// device and the mempool.
struct PortCounters {
  uint64_t rx_frames = 0, rx_bytes = 0, tx_frames = 0, tx_bytes = 0;
  uint64_t tx_full = 0, no_mbuf = 0;
  uint64_t tx_zero_copy = 0;  // frames whose payload was sent from channel memory, not copied
  uint64_t arp_requests_answered = 0, arp_requests_sent = 0, arp_replies_learned = 0;
  uint64_t icmp_echo_answered = 0;
  std::map<std::string, uint64_t> drops;  // by reason name (net/drop_reason.h), every reason
  std::optional<FaultCounters> faults;    // only while fault injection is on
  std::optional<DeviceCounters> device;
  std::optional<uint32_t> mempool_free, mempool_in_use;
};

// One row of `channels`.
struct RingUse {
  uint32_t used = 0, slots = 0;
};
struct ChannelRow {
  uint32_t id = 0;
  uint32_t engine = 0;  // the engine that serves the channel
  int32_t pid = 0;
  uint32_t uid = 0;
  std::string command;
  bool hugetlb = false;
  uint64_t size_bytes = 0;
  std::vector<uint16_t> listening;  // ports
  RingUse to_daemon, to_app;
  uint64_t msgs_in = 0, bytes_in = 0, msgs_out = 0, bytes_out = 0;
  uint64_t held = 0;  // times a message waited because its receiver was full
  uint64_t memory_faults = 0;  // pages the app punched out that the daemon read as zeros
  uint64_t drops_total = 0;
  std::map<std::string, uint64_t> drops;  // by reason name
};

struct ChannelTable {
  std::vector<ChannelRow> channels;  // `count` on the wire is channels.size()
  uint32_t applications = 0;
  uint32_t max_channels = 0;
};

// One engine thread: in `status` "engines" and `stats` "engines".
struct EngineRow {
  uint32_t id = 0;
  int32_t core = -1;  // CPU it is pinned to; -1: not pinned
  uint32_t queue = 0;  // the port's RX/TX queue pair it polls
  uint64_t loops = 0, busy_loops = 0;
  double busy_fraction = 0;  // busy_loops / loops
  double loops_per_s = 0;    // since the previous status/stats (since start the first time)
  uint32_t flows = 0, channels = 0;
  // Packets handed to or received from another engine because RSS put them on the wrong
  // queue, and those dropped because the other engine's inbox was full.
  uint64_t steered_in = 0, steered_out = 0, steer_drops = 0;
  // Frames of flows between two channels served by different engines of this daemon (they
  // go engine to engine instead of the wire).
  uint64_t loopback = 0;
  // Idle spells that began with a spin ([engine] adaptive_spin_us) and caught the next
  // work, or ran out; the engine stops spinning while they mostly run out.
  uint64_t spins_caught = 0, spins_expired = 0;
};

// Adds the counters of one queue's PortIo into the port's total.
void add(PortCounters& total, const PortCounters& part);

}  // namespace machnet::admin
