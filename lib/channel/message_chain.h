// Writing a message into a chain of buffers and reading one back, shared by the library and
// the tests. The library trusts its own writes; the daemon checks every chain it reads with
// check_chain (daemon/shm/chain_validator.h) before anything here touches it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "channel/channel_layout.h"
#include "channel/channel_view.h"

namespace machnet::channel {

struct IoPiece {
  void* base;
  size_t len;
};

// A position in a list of caller buffers, so one routine serves contiguous and
// scatter-gather calls.
struct IoCursor {
  const IoPiece* piece;
  size_t count;
  size_t i = 0, off = 0;
  void gather(uint8_t* dst, size_t n) {  // pieces -> dst
    while (n) {
      while (piece[i].len == off) ++i, off = 0;
      const size_t k = std::min(n, piece[i].len - off);
      std::memcpy(dst, static_cast<const uint8_t*>(piece[i].base) + off, k);
      dst += k, n -= k, off += k;
    }
  }
  void scatter(const uint8_t* src, size_t n) {  // src -> pieces
    while (n) {
      while (piece[i].len == off) ++i, off = 0;
      const size_t k = std::min(n, piece[i].len - off);
      std::memcpy(static_cast<uint8_t*>(piece[i].base) + off, src, k);
      src += k, n -= k, off += k;
    }
  }
};

// Fills buffers idx[0..buffers_for(len)) with `len` bytes from `src`, full buffers first,
// links them and writes the message fields into the first. Returns the head index.
inline uint32_t fill_chain(const ChannelView& v, const uint32_t* idx, IoCursor& src, uint32_t len, uint16_t flags,
                           uint32_t src_ip, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port) {
  const uint32_t bs = v.geometry().buffer_size;
  const uint32_t need = buffers_for(len, bs);
  uint32_t left = len;
  for (uint32_t k = 0; k < need; ++k) {
    BufferDesc* d = v.desc(idx[k]);
    const uint32_t chunk = std::min(left, bs);
    src.gather(v.data(idx[k]), chunk);
    d->len = chunk;
    d->next = k + 1 < need ? idx[k + 1] : kNoBuffer;
    left -= chunk;
  }
  BufferDesc* h = v.desc(idx[0]);
  h->msg_len = len;
  h->flags = flags;
  h->reserved = 0;
  h->src_ip = src_ip;
  h->dst_ip = dst_ip;
  h->src_port = src_port;
  h->dst_port = dst_port;
  return idx[0];
}

// Walks a chain the daemon wrote into `in_pool` buffers, recording its indices in `out`
// (capacity max_chain). Returns false if the chain is malformed (out of pool, too long,
// lengths that do not add up).
template <typename InPool>
bool walk_chain(const ChannelView& v, uint32_t head, InPool in_pool, uint32_t* out, uint32_t* count, BufferDesc* first) {
  const auto& g = v.geometry();
  if (!in_pool(head)) return false;
  *first = *v.desc(head);
  uint64_t total = 0;
  uint32_t n = 0;
  for (uint32_t i = head; i != kNoBuffer; i = v.desc(i)->next) {
    if (!in_pool(i) || n >= g.max_chain) return false;
    const uint32_t len = v.desc(i)->len;
    if (len > g.buffer_size) return false;
    out[n++] = i;
    total += len;
  }
  *count = n;
  return total == first->msg_len;
}

// Copies a walked chain out to the caller's pieces.
inline void copy_chain_out(const ChannelView& v, const uint32_t* idx, uint32_t n, IoCursor& dst) {
  for (uint32_t k = 0; k < n; ++k) dst.scatter(v.data(idx[k]), v.desc(idx[k])->len);
}

}  // namespace machnet::channel
