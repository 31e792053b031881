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

// How many of idx[k..n) follow one another in the pool (idx[k] + 1, + 2, ...): their
// payloads are adjacent in memory (ChannelView::data), so one copy moves them all. For a
// large message that is what makes the copy fast: glibc moves a long block with
// non-temporal stores, about 1.6x the speed of 4 KiB copies once the caches hold other data
// (docs/PERFORMANCE.md). Both pools start in order and come back in chain order, so a
// large message's chain is mostly one run.
inline uint32_t adjacent_run(const uint32_t* idx, uint32_t k, uint32_t n) {
  uint32_t j = k + 1;
  while (j < n && idx[j] == idx[j - 1] + 1) ++j;
  return j - k;
}

// Fills buffers idx[0..buffers_for(len)) with `len` bytes from `src`, full buffers first,
// links them and writes the message fields into the first. Returns the head index.
inline uint32_t fill_chain(const ChannelView& v, const uint32_t* idx, IoCursor& src, uint32_t len, uint16_t flags,
                           uint32_t src_ip, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port) {
  const uint32_t bs = v.geometry().buffer_size;
  const uint32_t need = buffers_for(len, bs);
  uint32_t left = len;
  for (uint32_t k = 0; k < need;) {
    const uint32_t run = adjacent_run(idx, k, need);
    const uint64_t bytes = std::min<uint64_t>(left, uint64_t{run} * bs);
    src.gather(v.data(idx[k]), bytes);
    for (const uint32_t end = k + run; k < end; ++k) {
      BufferDesc* d = v.desc(idx[k]);
      const uint32_t chunk = std::min(left, bs);
      d->len = chunk;
      d->next = k + 1 < need ? idx[k + 1] : kNoBuffer;
      left -= chunk;
    }
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

// Copies a walked chain out to the caller's pieces. Within a run of adjacent buffers every
// one but the last must be full for the run's bytes to be one block; a chain the daemon
// wrote is (full buffers first), and a shorter buffer simply ends the run.
inline void copy_chain_out(const ChannelView& v, const uint32_t* idx, uint32_t n, IoCursor& dst) {
  const uint32_t bs = v.geometry().buffer_size;
  for (uint32_t k = 0; k < n;) {
    const uint32_t start = k;
    uint64_t bytes = 0;
    for (const uint32_t end = k + adjacent_run(idx, k, n); k < end;) {
      const uint32_t len = v.desc(idx[k++])->len;
      bytes += len;
      if (len != bs) break;
    }
    dst.scatter(v.data(idx[start]), bytes);
  }
}

}  // namespace machnet::channel
