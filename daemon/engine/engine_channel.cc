// The buffer bookkeeping of one channel, shared by every path that fills or drains it.
// Engine thread only; no syscalls, locks, allocation or logging.
#include "engine/engine_channel.h"

#include "engine/tuning.h"

namespace machnet::engine {

void EngineChannel::count_drop_st(uint32_t reason) {
  bump(counters.drops[reason]);
  stats_dirty = true;
}

// The ring holds a whole pool, so it is never full unless the application corrupted it;
// buffers that do not fit then stay with the daemon until the channel goes (only this
// channel loses them).
void EngineChannel::return_to_app_st(const uint32_t* idx, uint32_t n) {
  const uint32_t k = app_free.enqueue_burst(idx, n);
  const uint32_t first = view.geometry().app_pool_first;
  for (uint32_t i = 0; i < k; ++i) app_owned[idx[i] - first] = 1;
  if (k < n && app_free.newly_corrupt()) [[unlikely]] count_drop_st(channel::kDropBadRingIndex);
}

uint32_t EngineChannel::reclaim_st() {
  const uint32_t n = daemon_free.available(kReclaimBurst);
  if (daemon_free.corrupt()) [[unlikely]] {
    if (daemon_free.newly_corrupt()) count_drop_st(channel::kDropBadRingIndex);
    return 0;
  }
  const uint32_t k = n < kReclaimBurst ? n : kReclaimBurst;
  const uint32_t first = view.geometry().daemon_pool_first;
  for (uint32_t i = 0; i < k; ++i) {
    const uint32_t b = daemon_free.peek(i);
    if (!view.in_daemon_pool(b) || !lent[b - first]) [[unlikely]] {
      count_drop_st(channel::kDropBadFreeIndex);
      continue;
    }
    lent[b - first] = 0;
    stash.push_back(b);
  }
  daemon_free.advance(k);
  if (k > 0) room_changed = true;
  return k;
}

bool EngineChannel::notify_flow_ended_st(const FlowKey& key, int err) {
  if (stash.empty()) reclaim_st();
  if (stash.empty() || !to_app_has_slot()) {
    count_drop_st(channel::kDropReceiverFull);
    return false;
  }
  const uint32_t b = stash.back();
  stash.pop_back();
  channel::BufferDesc* d = view.desc(b);
  d->len = 0;
  d->next = channel::kNoBuffer;
  d->msg_len = 0;
  d->flags = channel::kMsgFlowEnded;
  d->reserved = static_cast<uint16_t>(err);
  d->src_ip = key.dst_ip;  // as a message from the peer would say
  d->dst_ip = key.src_ip;
  d->src_port = key.dst_port;
  d->dst_port = key.src_port;
  lent[b - view.geometry().daemon_pool_first] = 1;
  to_app.enqueue(b);
  ring_doorbell = true;
  return true;
}

void EngineChannel::publish_stats_st() {
  stats_dirty = false;
  channel::ChannelStats* s = view.stats();
  auto put = [](uint64_t& field, const std::atomic<uint64_t>& v) {
    std::atomic_ref<uint64_t>(field).store(v.load(std::memory_order_relaxed), std::memory_order_relaxed);
  };
  put(s->msgs_in, counters.msgs_in);
  put(s->bytes_in, counters.bytes_in);
  put(s->msgs_out, counters.msgs_out);
  put(s->bytes_out, counters.bytes_out);
  for (uint32_t r = 0; r < channel::kDropSlots; ++r) put(s->drops[r], counters.drops[r]);
}

}  // namespace machnet::engine
