// Moving messages: take them from a channel's to_daemon ring, check them, copy them into
// the receiving channel, give the buffers back. All engine thread; no syscalls, locks,
// allocation or logging here except the doorbell write for a sleeping application.
#include <unistd.h>

#include <atomic>
#include <cstring>

#include "shm/chain_validator.h"
#include "engine/engine.h"
#include "engine/tuning.h"

namespace machnet::engine {

using channel::BufferDesc;
using channel::kNoBuffer;

void Engine::count_drop_st(EngineChannel& ch, uint32_t reason) {
  bump(ch.counters.drops[reason]);
  ch.stats_dirty = true;
}

// Gives app-pool buffers back to their application. The ring holds a whole pool, so it is
// never full unless the application corrupted it; buffers that do not fit then stay with
// the daemon until the channel goes (only that channel loses them).
void Engine::return_to_app_st(EngineChannel& ch, const uint32_t* idx, uint32_t n) {
  const uint32_t k = ch.app_free.enqueue_burst(idx, n);
  for (uint32_t i = 0; i < k; ++i) ch.app_owned[idx[i] - ch.view.geometry().app_pool_first] = 1;
  if (k < n) [[unlikely]] {
    count_drop_st(ch, channel::kDropBadRingIndex);
    ch.app_free.clear_corrupt();
  }
}

uint32_t Engine::reclaim_st(EngineChannel& ch) {
  const uint32_t n = ch.daemon_free.available(kReclaimBurst);
  if (ch.daemon_free.corrupt()) [[unlikely]] {
    count_drop_st(ch, channel::kDropBadRingIndex);
    ch.daemon_free.clear_corrupt();
    return 0;
  }
  const uint32_t k = n < kReclaimBurst ? n : kReclaimBurst;
  const auto& g = ch.view.geometry();
  for (uint32_t i = 0; i < k; ++i) {
    const uint32_t b = ch.daemon_free.peek(i);
    if (!ch.view.in_daemon_pool(b) || !ch.lent[b - g.daemon_pool_first]) [[unlikely]] {
      count_drop_st(ch, channel::kDropBadFreeIndex);
      continue;
    }
    ch.lent[b - g.daemon_pool_first] = 0;
    ch.stash.push_back(b);
  }
  ch.daemon_free.advance(k);
  if (k > 0) ch.room_changed = true;
  return k;
}

bool Engine::transmit_st(EngineChannel& ch) {
  const uint32_t n = ch.to_daemon.available(kBurst);
  if (ch.to_daemon.corrupt()) [[unlikely]] {
    count_drop_st(ch, channel::kDropBadRingIndex);
    ch.to_daemon.clear_corrupt();
    return false;
  }
  const uint32_t burst = n < kBurst ? n : kBurst;
  uint32_t done = 0;
  for (; done < burst; ++done) {
    if (deliver_st(ch, ch.to_daemon.peek(done)) == Outcome::kHold) break;
  }
  ch.to_daemon.advance(done);
  return done > 0;
}

Engine::Outcome Engine::deliver_st(EngineChannel& src, uint32_t head) {
  shm::CheckedMessage m;
  uint32_t claimed = 0;
  uint32_t* idx = src.chain_idx.data();
  uint32_t* len = src.chain_len.data();
  const uint32_t bad = shm::check_chain(src.view, head, src.app_owned, idx, len, &m, &claimed);
  if (bad != channel::kDropReasonCount) [[unlikely]] {
    count_drop_st(src, bad);
    return_to_app_st(src, idx, claimed);
    return Outcome::kDropped;
  }
  const FlowKey key{m.src_ip, m.dst_ip, m.src_port, m.dst_port};
  if (m.dst_ip != local_ip_) {
    const auto r = remote_.find(key);
    if (r != remote_.end() && r->second->owner == &src) return send_remote_st(src, *r->second, m.msg_len, idx, len, m.count);
  }
  const auto it = flows_.find(key);
  if (it == flows_.end() || it->second.owner != &src) [[unlikely]] {
    count_drop_st(src, channel::kDropUnknownFlow);
    return_to_app_st(src, idx, m.count);
    return Outcome::kDropped;
  }
  EngineChannel* dst = it->second.peer;
  if (dst == nullptr) [[unlikely]] {
    count_drop_st(src, channel::kDropPeerGone);
    return_to_app_st(src, idx, m.count);
    return Outcome::kDropped;
  }
  const auto& dg = dst->view.geometry();
  if (m.msg_len > dg.max_message_bytes) [[unlikely]] {
    count_drop_st(src, channel::kDropBadLength);
    return_to_app_st(src, idx, m.count);
    return Outcome::kDropped;
  }
  const uint32_t need = channel::buffers_for(m.msg_len, dg.buffer_size);
  if (dst->stash.size() < need) reclaim_st(*dst);
  // Slots promised to remote messages being reassembled are not ours to take.
  const bool ring_ok = dst->to_app.free_space(dst->rx_reserved_slots + 1) > dst->rx_reserved_slots;
  if (dst->to_app.corrupt()) [[unlikely]] {
    // The receiver broke its own ring: it cannot take anything, do not make the sender wait.
    dst->to_app.clear_corrupt();
    count_drop_st(*dst, channel::kDropBadRingIndex);
    count_drop_st(src, channel::kDropReceiverFull);
    return_to_app_st(src, idx, m.count);
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
    count_drop_st(src, channel::kDropReceiverFull);
    return_to_app_st(src, idx, m.count);
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
  h->flags = m.flags;
  h->reserved = 0;
  h->src_ip = m.src_ip;  // the flow as it travelled: src = the sender
  h->dst_ip = m.dst_ip;
  h->src_port = m.src_port;
  h->dst_port = m.dst_port;
  dst->to_app.enqueue(out[0]);  // room checked above; the release store publishes the copy
  dst->stash.resize(dst->stash.size() - need);
  return_to_app_st(src, idx, m.count);

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
    if (waiting.load(std::memory_order_relaxed) != 0 && waiting.exchange(0) != 0) {
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t r = ::write(ch->event_fd, &one, sizeof(one));  // EAGAIN: already rung
    }
  }
}

void Engine::publish_stats_st(EngineChannel& ch) {
  ch.stats_dirty = false;
  channel::ChannelStats* s = ch.view.stats();
  auto put = [](uint64_t& field, const std::atomic<uint64_t>& v) {
    std::atomic_ref<uint64_t>(field).store(v.load(std::memory_order_relaxed), std::memory_order_relaxed);
  };
  put(s->msgs_in, ch.counters.msgs_in);
  put(s->bytes_in, ch.counters.bytes_in);
  put(s->msgs_out, ch.counters.msgs_out);
  put(s->bytes_out, ch.counters.bytes_out);
  for (uint32_t r = 0; r < channel::kDropSlots; ++r) put(s->drops[r], ch.counters.drops[r]);
}

}  // namespace machnet::engine
