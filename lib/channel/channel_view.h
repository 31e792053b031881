// Typed access to a mapped channel from a trusted geometry (the daemon's own copy, or the
// one the library checked against the mapping at attach). Index checks are the caller's.
#pragma once

#include <cstdint>

#include "channel/channel_layout.h"

namespace machnet::channel {

class ChannelView {
 public:
  ChannelView() = default;
  ChannelView(uint8_t* base, const ChannelGeometry& g) : base_(base), g_(g) {}

  uint8_t* base() const { return base_; }
  const ChannelGeometry& geometry() const { return g_; }
  ChannelHeader* header() const { return reinterpret_cast<ChannelHeader*>(base_); }
  ChannelStats* stats() const { return reinterpret_cast<ChannelStats*>(base_ + g_.stats_offset); }
  uint8_t* ring(const RingRef& r) const { return base_ + r.offset; }
  BufferDesc* desc(uint32_t i) const { return reinterpret_cast<BufferDesc*>(base_ + g_.desc_offset) + i; }
  uint8_t* data(uint32_t i) const { return base_ + g_.data_offset + uint64_t{i} * g_.buffer_size; }

  bool in_app_pool(uint32_t i) const { return i - g_.app_pool_first < g_.app_pool_count; }
  bool in_daemon_pool(uint32_t i) const { return i - g_.daemon_pool_first < g_.daemon_pool_count; }

 private:
  uint8_t* base_ = nullptr;
  ChannelGeometry g_{};
};

// Writes the geometry into a fresh channel's header (daemon side).
inline void write_header(ChannelHeader* h, const ChannelGeometry& g, uint32_t channel_id) {
  h->magic = kChannelMagic;
  h->abi_version = kAbiVersion;
  h->header_size = sizeof(ChannelHeader);
  h->total_size = g.total_size;
  h->channel_id = channel_id;
  h->buffer_size = g.buffer_size;
  h->buffer_count = g.buffer_count;
  h->app_pool_first = g.app_pool_first;
  h->app_pool_count = g.app_pool_count;
  h->daemon_pool_first = g.daemon_pool_first;
  h->daemon_pool_count = g.daemon_pool_count;
  h->max_message_bytes = g.max_message_bytes;
  h->stats_offset = g.stats_offset;
  h->ctrl_submit = g.ctrl_submit;
  h->ctrl_complete = g.ctrl_complete;
  h->to_daemon = g.to_daemon;
  h->to_app = g.to_app;
  h->app_free = g.app_free;
  h->daemon_free = g.daemon_free;
  h->desc_offset = g.desc_offset;
  h->data_offset = g.data_offset;
  h->app_waiting = 0;
  h->engine_sleeping = 0;
}

// Reads a header back into a geometry and checks that everything it names lies inside a
// mapping of `mapped` bytes (library side; the daemon is trusted but a mismatched build or a
// truncated file must not make the library fault). Returns nullptr or what is wrong.
inline const char* read_header(const ChannelHeader* h, uint64_t mapped, ChannelGeometry* g) {
  if (mapped < sizeof(ChannelHeader)) return "channel memory smaller than its header";
  if (h->magic != kChannelMagic) return "channel memory has a wrong magic number";
  if (h->abi_version != kAbiVersion) return "channel ABI version differs from this libmachnet";
  if (h->header_size != sizeof(ChannelHeader) || h->total_size > mapped) return "channel header sizes do not match the memory";
  *g = ChannelGeometry{};
  g->total_size = h->total_size;
  g->buffer_size = h->buffer_size;
  g->buffer_count = h->buffer_count;
  g->app_pool_first = h->app_pool_first;
  g->app_pool_count = h->app_pool_count;
  g->daemon_pool_first = h->daemon_pool_first;
  g->daemon_pool_count = h->daemon_pool_count;
  g->max_message_bytes = h->max_message_bytes;
  g->stats_offset = h->stats_offset;
  g->ctrl_submit = h->ctrl_submit;
  g->ctrl_complete = h->ctrl_complete;
  g->to_daemon = h->to_daemon;
  g->to_app = h->to_app;
  g->app_free = h->app_free;
  g->daemon_free = h->daemon_free;
  g->desc_offset = h->desc_offset;
  g->data_offset = h->data_offset;
  if (g->buffer_size == 0) return "channel buffer size is zero";
  g->max_chain = buffers_for(g->max_message_bytes, g->buffer_size);
  auto inside = [mapped](uint64_t off, uint64_t len) { return off <= mapped && len <= mapped - off; };
  for (const RingRef* r : {&g->to_daemon, &g->to_app, &g->app_free, &g->daemon_free}) {
    if (r->slots == 0 || (r->slots & (r->slots - 1)) || !inside(r->offset, ring_bytes(r->slots)))
      return "channel ring outside the memory";
  }
  const uint64_t n = g->buffer_count;
  if (!inside(g->stats_offset, sizeof(ChannelStats)) || !inside(g->desc_offset, n * sizeof(BufferDesc)) ||
      !inside(g->data_offset, n * g->buffer_size) ||
      uint64_t{g->app_pool_first} + g->app_pool_count > n || uint64_t{g->daemon_pool_first} + g->daemon_pool_count > n)
    return "channel buffers outside the memory";
  return nullptr;
}

}  // namespace machnet::channel
