#include "shm/chain_validator.h"

#include <atomic>

namespace machnet::shm {

// The channel ABI (lib/channel/) this file reads and writes.
using namespace machnet::channel;

namespace {

// Shared memory may change under us: read each field exactly once.
template <typename T>
T read_once(const T& v) {
  return std::atomic_ref<const T>(v).load(std::memory_order_relaxed);
}

}  // namespace

uint32_t check_chain(const channel::ChannelView& view, uint32_t head, std::span<uint8_t> app_owned, uint32_t* idx,
                     uint32_t* len, CheckedMessage* out, uint32_t* claimed) {
  const ChannelGeometry& g = view.geometry();
  *claimed = 0;
  if (!view.in_app_pool(head) || !app_owned[head - g.app_pool_first]) [[unlikely]]
    return kDropBadBufferIndex;
  const BufferDesc* d = view.desc(head);
  out->msg_len = read_once(d->msg_len);
  out->flags = read_once(d->flags);
  out->src_ip = read_once(d->src_ip);
  out->dst_ip = read_once(d->dst_ip);
  out->src_port = read_once(d->src_port);
  out->dst_port = read_once(d->dst_port);
  if (out->msg_len > g.max_message_bytes) [[unlikely]] {
    // Claim the head so that the caller hands it back: the app gave it away with the message.
    app_owned[head - g.app_pool_first] = 0;
    idx[0] = head;
    *claimed = 1;
    return kDropBadLength;
  }
  const uint32_t expected = buffers_for(out->msg_len, g.buffer_size);
  uint64_t total = 0;
  uint32_t i = head;
  uint32_t n = 0;
  while (i != kNoBuffer) {
    if (n == expected) [[unlikely]] return kDropBadChain;  // longer than its length needs
    if (!view.in_app_pool(i) || !app_owned[i - g.app_pool_first]) [[unlikely]] return kDropBadBufferIndex;
    app_owned[i - g.app_pool_first] = 0;
    idx[n] = i;
    ++n;
    *claimed = n;
    const BufferDesc* b = view.desc(i);
    const uint32_t l = read_once(b->len);
    if (l > g.buffer_size) [[unlikely]] return kDropBadLength;
    len[n - 1] = l;
    total += l;
    i = read_once(b->next);
  }
  if (n != expected || total != out->msg_len) [[unlikely]] return kDropBadChain;
  out->count = n;
  return kDropReasonCount;
}

void unclaim(const channel::ChannelView& view, std::span<uint8_t> app_owned, const uint32_t* idx, uint32_t n) {
  for (uint32_t k = 0; k < n; ++k) app_owned[idx[k] - view.geometry().app_pool_first] = 1;
}

}  // namespace machnet::shm
