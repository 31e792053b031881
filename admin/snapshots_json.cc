#include "admin/snapshots_json.h"

#include <nlohmann/json.hpp>

namespace machnet::admin {
namespace {

using nlohmann::json;

// Lenient reads: a missing (or null) key leaves the default in place.
template <typename T>
void read(const json& j, const char* key, T& out) {
  if (!j.is_object()) return;
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) it->get_to(out);
}
template <typename T>
void read(const json& j, const char* key, std::optional<T>& out) {
  if (!j.is_object()) return;
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) out = it->get<T>();
}

// The transport counters sit flat in the flow row, beside the addresses.
void put_transport(json& j, const FlowTransportCounters& s) {
  j["tx_msgs"] = s.tx_msgs;
  j["tx_bytes"] = s.tx_bytes;
  j["rx_msgs"] = s.rx_msgs;
  j["rx_bytes"] = s.rx_bytes;
  j["tx_packets"] = s.tx_packets;
  j["rx_packets"] = s.rx_packets;
  j["retransmissions"] = s.retransmissions;
  j["rto_timeouts"] = s.rto_timeouts;
  j["fast_retransmits"] = s.fast_retransmits;
  j["spurious_timeouts"] = s.spurious_timeouts;
  j["rack_timer_losses"] = s.rack_timer_losses;
  j["tlp_probes"] = s.tlp_probes;
  j["tlp_recoveries"] = s.tlp_recoveries;
  j["recoveries"] = s.recoveries;
  j["rx_duplicates"] = s.rx_duplicates;
  j["rx_out_of_order"] = s.rx_out_of_order;
  j["rx_no_room"] = s.rx_no_room;
  j["protocol_errors"] = s.protocol_errors;
  j["rx_hold_refused"] = s.rx_hold_refused;
  j["window_probes"] = s.window_probes;
  j["window_updates"] = s.window_updates;
  j["keepalive_probes"] = s.keepalive_probes;
  j["srtt_us"] = s.srtt_us;
  j["rttvar_us"] = s.rttvar_us;
  j["rto_us"] = s.rto_us;
  j["cwnd"] = s.cwnd;
  j["peer_window"] = s.peer_window;
  j["rx_window"] = s.rx_window;
  j["inflight"] = s.inflight;
  j["queued_msgs"] = s.queued_msgs;
  j["error"] = s.error;
}
void get_transport(const json& j, FlowTransportCounters& s) {
  read(j, "tx_msgs", s.tx_msgs);
  read(j, "tx_bytes", s.tx_bytes);
  read(j, "rx_msgs", s.rx_msgs);
  read(j, "rx_bytes", s.rx_bytes);
  read(j, "tx_packets", s.tx_packets);
  read(j, "rx_packets", s.rx_packets);
  read(j, "retransmissions", s.retransmissions);
  read(j, "rto_timeouts", s.rto_timeouts);
  read(j, "fast_retransmits", s.fast_retransmits);
  read(j, "spurious_timeouts", s.spurious_timeouts);
  read(j, "rack_timer_losses", s.rack_timer_losses);
  read(j, "tlp_probes", s.tlp_probes);
  read(j, "tlp_recoveries", s.tlp_recoveries);
  read(j, "recoveries", s.recoveries);
  read(j, "rx_duplicates", s.rx_duplicates);
  read(j, "rx_out_of_order", s.rx_out_of_order);
  read(j, "rx_no_room", s.rx_no_room);
  read(j, "protocol_errors", s.protocol_errors);
  read(j, "rx_hold_refused", s.rx_hold_refused);
  read(j, "window_probes", s.window_probes);
  read(j, "window_updates", s.window_updates);
  read(j, "keepalive_probes", s.keepalive_probes);
  read(j, "srtt_us", s.srtt_us);
  read(j, "rttvar_us", s.rttvar_us);
  read(j, "rto_us", s.rto_us);
  read(j, "cwnd", s.cwnd);
  read(j, "peer_window", s.peer_window);
  read(j, "rx_window", s.rx_window);
  read(j, "inflight", s.inflight);
  read(j, "queued_msgs", s.queued_msgs);
  read(j, "error", s.error);
}

}  // namespace

void to_json(json& j, const RingUse& r) { j = {{"used", r.used}, {"slots", r.slots}}; }
void from_json(const json& j, RingUse& r) {
  read(j, "used", r.used);
  read(j, "slots", r.slots);
}
void to_json(json& j, const FaultCounters& f) {
  j = {{"dropped_rx", f.dropped_rx}, {"dropped_tx", f.dropped_tx}, {"duplicated", f.duplicated},
       {"reordered", f.reordered}};
}
void from_json(const json& j, FaultCounters& f) {
  read(j, "dropped_rx", f.dropped_rx);
  read(j, "dropped_tx", f.dropped_tx);
  read(j, "duplicated", f.duplicated);
  read(j, "reordered", f.reordered);
}
void to_json(json& j, const DeviceCounters& d) {
  j = {{"ipackets", d.ipackets}, {"opackets", d.opackets}, {"ibytes", d.ibytes},   {"obytes", d.obytes},
       {"imissed", d.imissed},   {"ierrors", d.ierrors},   {"oerrors", d.oerrors}, {"rx_nombuf", d.rx_nombuf}};
}
void from_json(const json& j, DeviceCounters& d) {
  read(j, "ipackets", d.ipackets);
  read(j, "opackets", d.opackets);
  read(j, "ibytes", d.ibytes);
  read(j, "obytes", d.obytes);
  read(j, "imissed", d.imissed);
  read(j, "ierrors", d.ierrors);
  read(j, "oerrors", d.oerrors);
  read(j, "rx_nombuf", d.rx_nombuf);
}
void to_json(json& j, const ArpEntry& e) { j = {{"ip", e.ip}, {"mac", e.mac}, {"age_ms", e.age_ms}}; }
void from_json(const json& j, ArpEntry& e) {
  read(j, "ip", e.ip);
  read(j, "mac", e.mac);
  read(j, "age_ms", e.age_ms);
}
void to_json(json& j, const ArpPending& p) { j = {{"ip", p.ip}, {"waiting_ms", p.waiting_ms}}; }
void from_json(const json& j, ArpPending& p) {
  read(j, "ip", p.ip);
  read(j, "waiting_ms", p.waiting_ms);
}

void to_json(json& j, const FlowRow& r) {
  j = {{"engine", r.engine},
       {"local_ip", r.local_ip},
       {"local_port", r.local_port},
       {"remote_ip", r.remote_ip},
       {"remote_port", r.remote_port},
       {"state", r.state},
       {"role", r.role},
       {"channel", r.channel}};
  if (r.pid) j["pid"] = *r.pid;
  if (r.command) j["command"] = *r.command;
  if (r.transport) put_transport(j, *r.transport);
  if (r.ended_s_ago) j["ended_s_ago"] = *r.ended_s_ago;
}

void from_json(const json& j, FlowRow& r) {
  read(j, "engine", r.engine);
  read(j, "local_ip", r.local_ip);
  read(j, "local_port", r.local_port);
  read(j, "remote_ip", r.remote_ip);
  read(j, "remote_port", r.remote_port);
  read(j, "state", r.state);
  read(j, "role", r.role);
  read(j, "channel", r.channel);
  read(j, "pid", r.pid);
  read(j, "command", r.command);
  // A row with the transport's counters is a flow across the wire; `cwnd` is always there.
  if (j.is_object() && j.contains("cwnd")) get_transport(j, r.transport.emplace());
  read(j, "ended_s_ago", r.ended_s_ago);
}

void to_json(json& j, const FlowTable& t) { j = {{"flows", t.flows}, {"count", t.flows.size()}}; }
void from_json(const json& j, FlowTable& t) { read(j, "flows", t.flows); }

void to_json(json& j, const ArpSnapshot& a) { j = {{"entries", a.entries}, {"pending", a.pending}}; }
void from_json(const json& j, ArpSnapshot& a) {
  read(j, "entries", a.entries);
  read(j, "pending", a.pending);
}

void to_json(json& j, const PortCounters& p) {
  j = {{"rx_frames", p.rx_frames},
       {"rx_bytes", p.rx_bytes},
       {"tx_frames", p.tx_frames},
       {"tx_bytes", p.tx_bytes},
       {"tx_full", p.tx_full},
       {"tx_zero_copy", p.tx_zero_copy},
       {"no_mbuf", p.no_mbuf},
       {"arp_requests_answered", p.arp_requests_answered},
       {"arp_requests_sent", p.arp_requests_sent},
       {"arp_replies_learned", p.arp_replies_learned},
       {"icmp_echo_answered", p.icmp_echo_answered},
       {"drops", p.drops}};
  if (p.faults) j["faults"] = *p.faults;
  if (p.device) j["device"] = *p.device;
  if (p.mempool_free) j["mempool_free"] = *p.mempool_free;
  if (p.mempool_in_use) j["mempool_in_use"] = *p.mempool_in_use;
}

void from_json(const json& j, PortCounters& p) {
  read(j, "rx_frames", p.rx_frames);
  read(j, "rx_bytes", p.rx_bytes);
  read(j, "tx_frames", p.tx_frames);
  read(j, "tx_bytes", p.tx_bytes);
  read(j, "tx_full", p.tx_full);
  read(j, "tx_zero_copy", p.tx_zero_copy);
  read(j, "no_mbuf", p.no_mbuf);
  read(j, "arp_requests_answered", p.arp_requests_answered);
  read(j, "arp_requests_sent", p.arp_requests_sent);
  read(j, "arp_replies_learned", p.arp_replies_learned);
  read(j, "icmp_echo_answered", p.icmp_echo_answered);
  read(j, "drops", p.drops);
  read(j, "faults", p.faults);
  read(j, "device", p.device);
  read(j, "mempool_free", p.mempool_free);
  read(j, "mempool_in_use", p.mempool_in_use);
}

void to_json(json& j, const ChannelRow& c) {
  j = {{"id", c.id},
       {"engine", c.engine},
       {"pid", c.pid},
       {"uid", c.uid},
       {"command", c.command},
       {"hugetlb", c.hugetlb},
       {"size_bytes", c.size_bytes},
       {"listening", c.listening},
       {"to_daemon", c.to_daemon},
       {"to_app", c.to_app},
       {"msgs_in", c.msgs_in},
       {"bytes_in", c.bytes_in},
       {"msgs_out", c.msgs_out},
       {"bytes_out", c.bytes_out},
       {"held", c.held},
       {"memory_faults", c.memory_faults},
       {"drops_total", c.drops_total},
       {"drops", c.drops}};
}

void from_json(const json& j, ChannelRow& c) {
  read(j, "id", c.id);
  read(j, "engine", c.engine);
  read(j, "pid", c.pid);
  read(j, "uid", c.uid);
  read(j, "command", c.command);
  read(j, "hugetlb", c.hugetlb);
  read(j, "size_bytes", c.size_bytes);
  read(j, "listening", c.listening);
  read(j, "to_daemon", c.to_daemon);
  read(j, "to_app", c.to_app);
  read(j, "msgs_in", c.msgs_in);
  read(j, "bytes_in", c.bytes_in);
  read(j, "msgs_out", c.msgs_out);
  read(j, "bytes_out", c.bytes_out);
  read(j, "held", c.held);
  read(j, "memory_faults", c.memory_faults);
  read(j, "drops_total", c.drops_total);
  read(j, "drops", c.drops);
}

void to_json(json& j, const ChannelTable& t) {
  j = {{"channels", t.channels},
       {"count", t.channels.size()},
       {"applications", t.applications},
       {"max_channels", t.max_channels}};
}

void from_json(const json& j, ChannelTable& t) {
  read(j, "channels", t.channels);
  read(j, "applications", t.applications);
  read(j, "max_channels", t.max_channels);
}

void to_json(json& j, const EngineRow& e) {
  j = {{"id", e.id},
       {"core", e.core},
       {"queue", e.queue},
       {"loops", e.loops},
       {"busy_loops", e.busy_loops},
       {"busy_fraction", e.busy_fraction},
       {"loops_per_s", e.loops_per_s},
       {"flows", e.flows},
       {"channels", e.channels},
       {"steered_in", e.steered_in},
       {"steered_out", e.steered_out},
       {"steer_drops", e.steer_drops},
       {"loopback", e.loopback},
       {"spins_caught", e.spins_caught},
       {"spins_expired", e.spins_expired}};
}

void from_json(const json& j, EngineRow& e) {
  read(j, "id", e.id);
  read(j, "core", e.core);
  read(j, "queue", e.queue);
  read(j, "loops", e.loops);
  read(j, "busy_loops", e.busy_loops);
  read(j, "busy_fraction", e.busy_fraction);
  read(j, "loops_per_s", e.loops_per_s);
  read(j, "flows", e.flows);
  read(j, "channels", e.channels);
  read(j, "steered_in", e.steered_in);
  read(j, "steered_out", e.steered_out);
  read(j, "steer_drops", e.steer_drops);
  read(j, "loopback", e.loopback);
  read(j, "spins_caught", e.spins_caught);
  read(j, "spins_expired", e.spins_expired);
}

}  // namespace machnet::admin
