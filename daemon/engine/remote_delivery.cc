// Flows to other machines: connect (ARP, then the handshake), accept, demultiplexing of
// received packets, sending messages, pumping flows, and flows ending. Engine thread.
#include <algorithm>
#include <cerrno>

#include <fmt/format.h>
#include <rte_mbuf.h>

#include "engine/engine.h"

namespace machnet::engine {

using transport::FlowError;
using transport::FlowState;

namespace {

// What machnet_connect reports for a flow that ended before it was established.
int connect_errno(FlowError why) {
  switch (why) {
    case FlowError::kConnectTimeout: return ETIMEDOUT;
    case FlowError::kRefused: return ECONNREFUSED;
    case FlowError::kPeerReset: return ECONNREFUSED;
    default: return ECONNABORTED;
  }
}

// What machnet_recv reports when an established flow fails under the application.
int ended_errno(FlowError why) {
  return why == FlowError::kRetransmitLimit || why == FlowError::kIdleTimeout ? ETIMEDOUT : ECONNRESET;
}

// Ends the application hears of and `machnetctl flows` keeps showing for a while.
bool is_failure(FlowError why) {
  return why == FlowError::kPeerReset || why == FlowError::kRetransmitLimit || why == FlowError::kStalled ||
         why == FlowError::kProtocolError || why == FlowError::kIdleTimeout;
}

}  // namespace

RemoteFlow& Engine::create_remote_st(const FlowKey& key, EngineChannel* owner, bool client, uint32_t conn_id) {
  return flows_.add_remote(std::make_unique<RemoteFlow>(flow_context_, key, owner, client, conn_id, rng_()));
}

void Engine::on_arp_resolved_st(Ipv4Address ip, const MacAddress& mac) {
  for (size_t i = 0; i < arp_waiters_.size();) {
    RemoteFlow* f = arp_waiters_[i];
    if (f->key.dst_ip != ip.value) {
      ++i;
      continue;
    }
    arp_waiters_[i] = arp_waiters_.back();
    arp_waiters_.pop_back();
    if (f->ended) continue;
    f->arp_deadline_us = 0;
    f->addr.dst_mac = mac;
    f->flow.connect(now_us_);
  }
}

void Engine::fail_arp_waiter_st(RemoteFlow& f, int err, std::string reason) {
  if (f.pending_connect) {
    Command* cmd = f.pending_connect;
    f.pending_connect = nullptr;
    cmd->error = err;
    cmd->reason = std::move(reason);
    complete_st(*cmd);
  }
  f.flow.abort(FlowError::kConnectTimeout, false);
}

void Engine::on_arp_failed_st(Ipv4Address ip) {
  std::vector<RemoteFlow*> failed;
  for (RemoteFlow* f : arp_waiters_)
    if (f->key.dst_ip == ip.value) failed.push_back(f);
  for (RemoteFlow* f : failed)
    fail_arp_waiter_st(*f, EHOSTUNREACH,
                       fmt::format("no ARP answer from {}: is a daemon running at that address?", ip.to_string()));
}

// Connects still waiting for an ARP answer: the answer may have reached another engine
// (the neighbour table is shared), or their timeout passed.
void Engine::check_arp_waiters_st() {
  if (arp_waiters_.empty()) return;
  std::vector<RemoteFlow*> late;
  for (size_t i = 0; i < arp_waiters_.size();) {
    RemoteFlow* f = arp_waiters_[i];
    if (auto mac = port_->lookup_st(Ipv4Address{f->key.dst_ip}); mac && !f->ended) {
      arp_waiters_[i] = arp_waiters_.back();
      arp_waiters_.pop_back();
      f->arp_deadline_us = 0;
      f->addr.dst_mac = *mac;
      f->flow.connect(now_us_);
      continue;
    }
    if (f->arp_deadline_us != 0 && now_us_ >= f->arp_deadline_us) late.push_back(f);
    ++i;
  }
  for (RemoteFlow* f : late)
    fail_arp_waiter_st(*f, ETIMEDOUT,
                       fmt::format("no ARP answer from {} within {} ms ([transport] connect_timeout_ms)",
                                   Ipv4Address{f->key.dst_ip}.to_string(), transport_.connect_timeout_ms));
}

// Demultiplexing: a Machnet packet for this host goes to its flow, or to the engine that
// owns its local port, or starts a flow at a listener, or is answered with a reset.
bool Engine::on_machnet_st(rte_mbuf* m, const net::MachnetPacketInfo& p, bool steered) {
  if (shared_.steering && !steered) {
    const int owner = shared_.ports.owner(p.dst_port);
    if (owner != PortDirectory::kNobody && owner != static_cast<int>(id_)) [[unlikely]] {
      // Checked here already: the owner's parse need not sum the payload again.
      m->ol_flags = (m->ol_flags & ~(RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK)) |
                    RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
      steer_st(m, owner);
      return true;
    }
  }
  const net::MachnetHeader& h = p.header;
  const FlowKey key{p.dst_ip.value, p.src_ip.value, p.dst_port, p.src_port};
  FlowEntry* e = flows_.find(key);
  if (e && e->is_remote() && e->remote->flow.conn_id() != h.conn_id) {
    if (h.flags & net::kFlagSyn) {
      // A restarted peer, or a delayed or forged SYN (client ports are handed out in order,
      // so one is easy to guess): never enough to end the flow. Answer with an ACK of the
      // live flow (RFC 5961's challenge ACK): a restarted peer does not know its conn_id and
      // resets it, so its next SYN finds the ports free; the real peer just sees an ACK.
      port_->count_drop_st(net::DropReason::kSynOnLiveFlow);
      e->remote->flow.challenge_ack();
      mark_dirty_st(*e->remote);
      return false;
    } else {
      port_->count_drop_st(net::DropReason::kUnknownFlow);
      if (!(h.flags & net::kFlagRst)) send_reset_st(p);  // a flow from before: stop it
      return false;
    }
  }
  if (e == nullptr) {
    if (!(h.flags & net::kFlagSyn)) {
      port_->count_drop_st(net::DropReason::kUnknownFlow);
      if (!(h.flags & net::kFlagRst)) send_reset_st(p);
      return false;
    }
    auto l = listeners_.find(p.dst_port);
    if (l == listeners_.end()) {
      port_->count_drop_st(net::DropReason::kUnknownFlow);
      send_reset_st(p);  // nobody listens: machnet_connect on the other side fails at once
      return false;
    }
    if (stopping_st()) {  // a stopping daemon starts no flow: the connect fails at once
      port_->count_drop_st(net::DropReason::kUnknownFlow);
      send_reset_st(p);
      return false;
    }
    if (!admit_syn_st(p)) return false;  // past a [limits] flow cap: counted, not answered
    RemoteFlow& f = create_remote_st(key, l->second, false, h.conn_id);
    f.addr.dst_mac = p.src_mac;
    if (p.src_ip.value != local_ip_) port_->learn_st(p.src_ip, p.src_mac, now_us_);
    f.flow.accept(h, now_us_);
    accepted_st(f);
    mark_dirty_st(f);
    return false;
  }
  if (!e->is_remote()) [[unlikely]] {  // a local flow's key from the wire: a forgery or a loop
    port_->count_drop_st(net::DropReason::kUnknownFlow);
    send_reset_st(p);
    return false;
  }
  RemoteFlow& f = *e->remote;
  if (!(h.flags & net::kFlagSyn)) heard_from_peer_st(f);  // the handshake completed
  const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*) + p.payload_offset;
  const bool kept = f.flow.receive(h, data, p.payload_len, m, now_us_);
  mark_dirty_st(f);
  return kept;
}

// Answers a packet that belongs to no flow here with a reset, so its sender stops.
void Engine::send_reset_st(const net::MachnetPacketInfo& p) {
  rte_mbuf* m = port_->alloc_st();
  if (m == nullptr) return;
  net::FlowAddress a;
  a.src_mac = port_->interface().mac;
  a.dst_mac = p.src_mac;
  a.src_ip = p.dst_ip;
  a.dst_ip = p.src_ip;
  a.src_port = p.dst_port;
  a.dst_port = p.src_port;
  net::MachnetHeader h;
  h.flags = net::kFlagRst;
  h.conn_id = p.header.conn_id;
  h.seq = p.header.ack;
  net::write_machnet_headers(rte_pktmbuf_mtod(m, uint8_t*), a, h, 0, port_->tx_checksum());
  port_->finish_machnet_frame(m, 0, 0);
  port_->queue_tx_st(m);
}

Engine::Outcome Engine::send_remote_st(EngineChannel& src, RemoteFlow& f, uint32_t msg_len, const uint32_t* idx,
                                       const uint32_t* len, uint32_t count) {
  const FlowState st = f.flow.state();
  if (st != FlowState::kEstablished) {
    // Our direction is closed (machnet_close_flow, or the peer's FIN): nothing more may go.
    // machnet_send accepted the message, so the application is told it was not sent:
    // machnet_recv returns -1 with EPIPE naming the flow, once per refused message.
    src.count_drop_st(channel::kDropPeerGone);
    src.return_to_app_st(idx, count);
    src.notify_flow_ended_st(f.key, EPIPE);
    return Outcome::kDropped;
  }
  TxRecord* r = tx_records_.take();
  r->channel = &src;
  r->idx.assign(idx, idx + count);
  r->len.assign(len, len + count);
  const uint32_t bs = src.view.geometry().buffer_size;
  r->uniform = std::all_of(len, len + count - 1, [bs](uint32_t l) { return l == bs; });
  r->msg.len = msg_len;
  r->msg.cookie = r;
  f.flow.send(&r->msg);
  mark_dirty_st(f);
  bump(src.counters.msgs_in);
  bump(src.counters.bytes_in, msg_len);
  src.stats_dirty = true;
  return Outcome::kDelivered;
}

void Engine::mark_dirty_st(RemoteFlow& f) {
  if (f.dirty || f.ended) return;
  f.dirty = true;
  dirty_.push_back(&f);
}

// Each flow touched this iteration transmits once: one ACK per receive burst, segments as
// the windows allow. A flow that could not send everything (no mbuf) tries next time.
void Engine::pump_flows_st() {
  for (RemoteFlow* f : dirty_) {
    f->dirty = false;
    if (f->ended) continue;
    f->flow.pump(now_us_);
    if (f->ended) continue;
    set_awaiting_st(*f, f->flow.inflight() > 0 || f->flow.queued_messages() > 0);
    if (f->flow.wants_pump()) dirty_next_.push_back(f);
    if (f->flow.ack_due_us() != 0 && !f->in_held_acks) {
      f->in_held_acks = true;
      held_acks_.push_back(f);
    }
  }
  dirty_.clear();
  for (RemoteFlow* f : dirty_next_) mark_dirty_st(*f);
  dirty_next_.clear();
}

void Engine::flow_established_st(RemoteFlow& f) {
  if (f.pending_connect == nullptr) return;
  Command& cmd = *f.pending_connect;
  f.pending_connect = nullptr;
  cmd.flow = channel::CtlFlow{f.key.src_ip, f.key.dst_ip, f.key.src_port, f.key.dst_port};
  complete_st(cmd);
}

void Engine::flow_ended_st(RemoteFlow& f, FlowError why) {
  if (f.ended) return;
  f.ended = true;
  set_awaiting_st(f, false);
  f.half_open.unlink();
  if (f.pending_connect) {
    Command& cmd = *f.pending_connect;
    f.pending_connect = nullptr;
    cmd.error = connect_errno(why);
    cmd.reason = fmt::format("connect to {}:{} failed: {}", Ipv4Address{f.key.dst_ip}.to_string(), f.key.dst_port,
                             transport::to_string(why));
    complete_st(cmd);
  } else if (stopping_st()) {
    // The daemon stops (graceful_stop.cc): the application hears whether all it sent arrived.
    const int err = stop_errno_st(f, why);
    if (f.owner && err) f.owner->notify_flow_ended_st(f.key, err);
    ++(err == 0 || err == ENETDOWN ? stop_closed_ : stop_reset_);
  } else if (f.owner && is_failure(why)) {
    // Failures only: a peer that closes in order after its last message is the normal end
    // of a conversation, and upstream-style servers treat any -1 from recv as fatal.
    f.owner->notify_flow_ended_st(f.key, ended_errno(why));
  }
  if (is_failure(why)) {
    failed_.emplace_back(now_us_, flow_row_st(f));
    failed_.back().second.state = "reset";
    if (failed_.size() > kFailedFlowsKept) failed_.pop_front();
  }
  if (f.client) give_back_port_st(f.key.src_port);
  if (FlowEntry* e = flows_.find(f.key); e && e->remote.get() == &f) ended_.push_back(flows_.erase(f.key));
}

void Engine::release_held_acks_st() {
  size_t keep = 0;
  for (RemoteFlow* f : held_acks_) {
    const uint64_t due = f->ended ? 0 : f->flow.ack_due_us();
    if (due != 0 && now_us_ < due) {
      held_acks_[keep++] = f;
      continue;
    }
    f->in_held_acks = false;
    if (due != 0) mark_dirty_st(*f);  // due now; 0: data carried it meanwhile
  }
  held_acks_.resize(keep);
}

void Engine::reap_flows_st() {
  if (ended_.empty()) return;
  for (auto& f : ended_) {
    std::erase(arp_waiters_, f.get());
    if (f->owner && f->blocked_listed) std::erase(f->owner->blocked_flows, f.get());
  }
  std::erase_if(dirty_, [](RemoteFlow* f) { return f->ended; });
  std::erase_if(held_acks_, [](RemoteFlow* f) { return f->ended; });
  ended_.clear();
}

admin::FlowRow Engine::flow_row_st(const RemoteFlow& f) const {
  const auto& s = f.flow.stats();
  const auto& r = f.flow.rtt();
  const FlowKey& key = f.key;
  admin::FlowRow row;
  row.engine = id_;
  row.local_ip = Ipv4Address{key.src_ip}.to_string();
  row.local_port = key.src_port;
  row.remote_ip = Ipv4Address{key.dst_ip}.to_string();
  row.remote_port = key.dst_port;
  row.state = f.arp_deadline_us ? "arp" : transport::to_string(f.flow.state());
  row.role = f.client ? "client" : "server";
  row.channel = f.owner ? f.owner->id : 0;
  admin::FlowTransportCounters& t = row.transport.emplace();
  t.tx_msgs = s.tx_msgs;
  t.tx_bytes = s.tx_bytes;
  t.rx_msgs = s.rx_msgs;
  t.rx_bytes = s.rx_bytes;
  t.tx_packets = s.tx_packets;
  t.rx_packets = s.rx_packets;
  t.retransmissions = s.retransmissions;
  t.rto_timeouts = s.rto_timeouts;
  t.fast_retransmits = s.fast_retransmits;
  t.spurious_timeouts = s.spurious_timeouts;
  t.rack_timer_losses = s.rack_timer_losses;
  t.tlp_probes = s.tlp_probes;
  t.tlp_recoveries = s.tlp_recoveries;
  t.recoveries = s.recoveries;
  t.rx_duplicates = s.rx_duplicates;
  t.rx_out_of_order = s.rx_out_of_order;
  t.rx_no_room = s.rx_no_room;
  t.protocol_errors = s.protocol_errors;
  t.rx_hold_refused = s.rx_hold_refused;
  t.window_probes = s.window_probes;
  t.window_updates = s.window_updates;
  t.keepalive_probes = s.keepalive_probes;
  t.srtt_us = r.srtt_us();
  t.rttvar_us = r.rttvar_us();
  t.rto_us = r.rto_us();
  t.cwnd = f.flow.cwnd();
  t.peer_window = f.flow.peer_window();
  t.rx_window = f.flow.advertised();
  t.inflight = f.flow.inflight();
  t.queued_msgs = f.flow.queued_messages();
  t.error = transport::to_string(f.flow.error());
  return row;
}

}  // namespace machnet::engine
