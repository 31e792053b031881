// Messages from applications: take them from a channel's to_daemon ring, check them, and
// route each by its flow: into the receiving channel of this daemon (a local flow, copied
// here) or to the transport (a remote flow, remote_delivery.cc). Doorbells for sleeping
// applications. All engine thread; no syscalls, locks, allocation or logging here except
// the doorbell write for a sleeping application.
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "channel/doorbell_socket.h"
#include "engine/engine.h"
#include "engine/tuning.h"
#include "shm/chain_validator.h"

namespace machnet::engine {

using channel::BufferDesc;
using channel::kNoBuffer;

bool Engine::take_from_app_st(EngineChannel& ch) {
  const uint32_t n = ch.to_daemon.available(kBurst);
  if (ch.to_daemon.corrupt()) [[unlikely]] {
    if (ch.to_daemon.newly_corrupt()) ch.count_drop_st(channel::kDropBadRingIndex);
    return false;
  }
  const uint32_t burst = n < kBurst ? n : kBurst;
  uint32_t done = 0;
  for (; done < burst; ++done) {
    if (route_message_st(ch, ch.to_daemon.peek(done)) == Outcome::kHold) break;
  }
  ch.to_daemon.advance(done);
  return done > 0;
}

Engine::Outcome Engine::route_message_st(EngineChannel& src, uint32_t head) {
  shm::CheckedMessage m;
  uint32_t claimed = 0;
  uint32_t* idx = src.chain_idx.data();
  uint32_t* len = src.chain_len.data();
  const uint32_t bad = shm::check_chain(src.view, head, src.app_owned, idx, len, &m, &claimed);
  if (bad != channel::kDropReasonCount) [[unlikely]] {
    src.count_drop_st(bad);
    src.return_to_app_st(idx, claimed);
    return Outcome::kDropped;
  }
  FlowEntry* e = flows_.find(FlowKey{m.src_ip, m.dst_ip, m.src_port, m.dst_port});
  if (e == nullptr || e->owner() != &src) [[unlikely]] {
    // Not (or no longer) a flow of this channel, e.g. one that closed: accepted by
    // machnet_send, so the application hears it was not sent (-1/EPIPE from machnet_recv).
    src.count_drop_st(channel::kDropUnknownFlow);
    src.return_to_app_st(idx, m.count);
    src.notify_flow_ended_st(FlowKey{m.src_ip, m.dst_ip, m.src_port, m.dst_port}, EPIPE);
    return Outcome::kDropped;
  }
  if (e->is_remote()) return send_remote_st(src, *e->remote, m.msg_len, idx, len, m.count);
  return deliver_local_st(src, *e, m, idx, len);
}

Engine::Outcome Engine::deliver_local_st(EngineChannel& src, const FlowEntry& e, const shm::CheckedMessage& m,
                                         const uint32_t* idx, const uint32_t* len) {
  EngineChannel* dst = e.local_peer;
  if (dst == nullptr) [[unlikely]] {
    src.count_drop_st(channel::kDropPeerGone);
    src.return_to_app_st(idx, m.count);
    return Outcome::kDropped;
  }
  const auto& dg = dst->view.geometry();
  if (m.msg_len > dg.max_message_bytes) [[unlikely]] {
    src.count_drop_st(channel::kDropBadLength);
    src.return_to_app_st(idx, m.count);
    return Outcome::kDropped;
  }
  const uint32_t need = channel::buffers_for(m.msg_len, dg.buffer_size);
  if (dst->stash.size() < need) dst->reclaim_st();
  // Slots promised to remote messages being reassembled are not ours to take.
  const bool ring_ok = dst->to_app_has_slot();
  if (dst->to_app.corrupt()) [[unlikely]] {
    // The receiver broke its own ring: it cannot take anything, do not make the sender wait.
    if (dst->to_app.newly_corrupt()) dst->count_drop_st(channel::kDropBadRingIndex);
    src.count_drop_st(channel::kDropReceiverFull);
    src.return_to_app_st(idx, m.count);
    return Outcome::kDropped;
  }
  if (dst->stash.size() < need || !ring_ok) [[unlikely]] {
    if (src.hold_since_ns == 0) src.hold_since_ns = now_ns_;
    if (now_ns_ - src.hold_since_ns < kHoldLimitNs) {
      shm::unclaim(src.view, src.app_owned, idx, m.count);
      bump(src.counters.held);
      return Outcome::kHold;
    }
    src.hold_since_ns = 0;
    src.count_drop_st(channel::kDropReceiverFull);
    src.return_to_app_st(idx, m.count);
    return Outcome::kDropped;
  }
  src.hold_since_ns = 0;

  // Copy the checked source chain into `need` receiver buffers.
  const uint32_t* out = dst->stash.data() + dst->stash.size() - need;
  uint32_t si = 0, soff = 0;
  for (uint32_t k = 0; k < need; ++k) {
    const uint32_t b = out[k];
    uint8_t* to = dst->view.data(b);
    uint32_t fill = 0;
    const uint32_t want = (k + 1 < need) ? dg.buffer_size : m.msg_len - uint32_t{k} * dg.buffer_size;
    while (fill < want) {
      while (soff == len[si]) ++si, soff = 0;
      const uint32_t c = std::min(want - fill, len[si] - soff);
      std::memcpy(to + fill, src.view.data(idx[si]) + soff, c);
      fill += c;
      soff += c;
    }
    BufferDesc* d = dst->view.desc(b);
    d->len = want;
    d->next = k + 1 < need ? out[k + 1] : kNoBuffer;
    dst->lent[b - dg.daemon_pool_first] = 1;
  }
  BufferDesc* h = dst->view.desc(out[0]);
  h->msg_len = m.msg_len;
  // kMsgFlowEnded is the daemon's own notice (notify_flow_ended_st), never the sender's: an
  // app that set it in its message made the receiver's machnet_recv fail with a forged
  // ECONNRESET and drop the data (found writing the channel race fuzzer, issue 15). Remote
  // messages carry no flags at all (remote_flow.cc).
  h->flags = static_cast<uint16_t>(m.flags & ~channel::kMsgFlowEnded);
  h->reserved = 0;
  h->src_ip = m.src_ip;  // the flow as it travelled: src = the sender
  h->dst_ip = m.dst_ip;
  h->src_port = m.src_port;
  h->dst_port = m.dst_port;
  dst->to_app.enqueue(out[0]);  // room checked above; the release store publishes the copy
  dst->stash.resize(dst->stash.size() - need);
  src.return_to_app_st(idx, m.count);

  bump(src.counters.msgs_in);
  bump(src.counters.bytes_in, m.msg_len);
  bump(dst->counters.msgs_out);
  bump(dst->counters.bytes_out, m.msg_len);
  src.stats_dirty = dst->stats_dirty = true;
  dst->ring_doorbell = true;
  return Outcome::kDelivered;
}

// Wakes applications sleeping in machnet_recv_timeout. Pairs with the library: it sets
// app_waiting then re-checks the ring; we publish then check app_waiting (both seq_cst).
void Engine::ring_doorbells_st() {
  bool fenced = false;
  for (EngineChannel* ch : channels_) {
    if (!ch->ring_doorbell) continue;
    ch->ring_doorbell = false;
    if (!fenced) std::atomic_thread_fence(std::memory_order_seq_cst), fenced = true;
    std::atomic_ref<uint32_t> waiting(ch->view.header()->app_waiting);
    if (waiting.load(std::memory_order_relaxed) != 0 && waiting.exchange(0) != 0) channel::doorbell_ring(ch->doorbell_fd);
  }
}

// Whether an application has messages we handed it and has not read yet: it needs the core.
bool Engine::apps_have_unread_st() {
  for (EngineChannel* ch : channels_)
    if (!ch->to_app.drained()) return true;
  return false;
}

// The application read and gave buffers back: flows that waited for room go on, in the
// order they came. A flow whose message still finds too little room puts itself back
// first, and those behind it stay queued untold (first come, first served: room that
// comes back goes to the oldest waiter, and inviting more data now would only block it).
// The others are told the window they now have (Flow::on_rx_room sends the update).
void Engine::wake_blocked_st(EngineChannel& ch) {
  waking_.swap(ch.blocked_flows);  // a flow still short of room puts itself back
  size_t i = 0;
  while (i < waking_.size()) {
    RemoteFlow* f = waking_[i++];
    f->blocked_listed = false;
    if (f->ended) continue;
    f->flow.on_rx_room(now_us_);
    mark_dirty_st(*f);
    if (f->flow.rx_blocked()) break;
  }
  for (; i < waking_.size(); ++i) {  // still listed (blocked_listed stays true)
    if (waking_[i]->blocked_listed) ch.blocked_flows.push_back(waking_[i]);
  }
  waking_.clear();  // keeps its capacity: no allocation on the next wake
}

}  // namespace machnet::engine
