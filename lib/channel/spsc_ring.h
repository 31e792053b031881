// Single-producer/single-consumer ring of uint32 buffer indices over channel memory.
//
// Each side keeps its own index in private memory (the shared copy is only published) and
// caches the other side's index, re-reading it from shared memory only when the cached
// value says the ring looks full (producer) or empty (consumer). Because the other side may
// be a hostile application, an opposite index that is more than `slots` away from ours is
// reported as corruption instead of being used: the ring then behaves as full/empty for as
// long as the index stays bad (corrupt()), and newly_corrupt() says so once per episode, so
// that a caller polling the ring in every loop counts one bad index once, not per loop.
#pragma once

#include <atomic>
#include <cstdint>

#include "channel/channel_layout.h"

namespace machnet::channel {

namespace ring_detail {
inline uint32_t load_acquire(uint32_t* p) { return std::atomic_ref<uint32_t>(*p).load(std::memory_order_acquire); }
inline uint32_t load_relaxed(uint32_t* p) { return std::atomic_ref<uint32_t>(*p).load(std::memory_order_relaxed); }
inline void store_release(uint32_t* p, uint32_t v) { std::atomic_ref<uint32_t>(*p).store(v, std::memory_order_release); }
inline void store_relaxed(uint32_t* p, uint32_t v) { std::atomic_ref<uint32_t>(*p).store(v, std::memory_order_relaxed); }

// Whether the other side's index is bad now (as of the last time it was read), and whether
// that has been reported since it turned bad. An index that comes back into range ends the
// episode; going bad again starts a new one.
class CorruptionEpisode {
 public:
  void seen(bool bad) {
    if (!bad) reported_ = false;
    bad_ = bad;
  }
  bool corrupt() const { return bad_; }
  bool take_new() {
    if (!bad_ || reported_) return false;
    reported_ = true;
    return true;
  }

 private:
  bool bad_ = false;
  bool reported_ = false;
};
}  // namespace ring_detail

// Formats a ring in fresh memory: both indices at `initial` (the number of entries the
// creator pre-filled with fill_slot before anyone else sees the ring).
inline void ring_format(uint8_t* ring, uint32_t initial = 0) {
  auto* h = reinterpret_cast<RingHeader*>(ring);
  h->producer = initial;
  h->consumer = 0;
}
inline void ring_fill_slot(uint8_t* ring, uint32_t slots, uint32_t pos, uint32_t value) {
  reinterpret_cast<uint32_t*>(ring + kRingSlotsOffset)[pos & (slots - 1)] = value;
}

class RingProducer {
 public:
  RingProducer() = default;
  // `ring` points at the RingHeader; `slots` is a power of two. `trusted_start` is our own
  // producer index (the daemon knows it; the application reads it once at attach).
  RingProducer(uint8_t* ring, uint32_t slots, uint32_t start)
      : prod_(&reinterpret_cast<RingHeader*>(ring)->producer),
        cons_(&reinterpret_cast<RingHeader*>(ring)->consumer),
        slots_(reinterpret_cast<uint32_t*>(ring + kRingSlotsOffset)),
        size_(slots),
        mask_(slots - 1),
        prod_shadow_(start),
        cons_cache_(start - slots) {}

  // Room for at least `n` more entries? Re-reads the consumer index when the cache says no.
  uint32_t free_space(uint32_t want = 1) {
    uint32_t used = prod_shadow_ - cons_cache_;
    if (size_ - used >= want && used <= size_) return size_ - used;
    cons_cache_ = ring_detail::load_acquire(cons_);
    used = prod_shadow_ - cons_cache_;
    episode_.seen(used > size_);
    return used > size_ ? 0 : size_ - used;
  }

  // Enqueues up to n entries; returns how many went in. Publishes once per burst.
  uint32_t enqueue_burst(const uint32_t* items, uint32_t n) {
    const uint32_t room = free_space(n);
    const uint32_t k = n < room ? n : room;
    for (uint32_t i = 0; i < k; ++i) ring_detail::store_relaxed(&slots_[(prod_shadow_ + i) & mask_], items[i]);
    if (k) {
      prod_shadow_ += k;
      ring_detail::store_release(prod_, prod_shadow_);
    }
    return k;
  }
  // All or nothing.
  bool enqueue_bulk(const uint32_t* items, uint32_t n) {
    if (free_space(n) < n) return false;
    return enqueue_burst(items, n) == n;
  }
  bool enqueue(uint32_t item) { return enqueue_burst(&item, 1) == 1; }

  // Has the consumer taken everything we published? Re-reads its index.
  bool drained() {
    cons_cache_ = ring_detail::load_acquire(cons_);
    return cons_cache_ == prod_shadow_;
  }
  uint32_t size() const { return size_; }  // slots in the ring
  bool corrupt() const { return episode_.corrupt(); }
  bool newly_corrupt() { return episode_.take_new(); }
  bool valid() const { return prod_ != nullptr; }

 private:
  uint32_t* prod_ = nullptr;
  uint32_t* cons_ = nullptr;
  uint32_t* slots_ = nullptr;
  uint32_t size_ = 0;
  uint32_t mask_ = 0;
  uint32_t prod_shadow_ = 0;
  uint32_t cons_cache_ = 0;
  ring_detail::CorruptionEpisode episode_;
};

class RingConsumer {
 public:
  RingConsumer() = default;
  RingConsumer(uint8_t* ring, uint32_t slots, uint32_t start)
      : prod_(&reinterpret_cast<RingHeader*>(ring)->producer),
        cons_(&reinterpret_cast<RingHeader*>(ring)->consumer),
        slots_(reinterpret_cast<uint32_t*>(ring + kRingSlotsOffset)),
        size_(slots),
        mask_(slots - 1),
        cons_shadow_(start),
        prod_cache_(start) {}

  // Entries ready, re-reading the producer index when fewer than `want` are cached.
  uint32_t available(uint32_t want = 1) {
    uint32_t avail = prod_cache_ - cons_shadow_;
    if (avail >= want && avail <= size_) return avail;
    const uint32_t prod = ring_detail::load_acquire(prod_);
    avail = prod - cons_shadow_;
    episode_.seen(avail > size_);
    if (avail > size_) [[unlikely]] return 0;
    prod_cache_ = prod;
    return avail;
  }

  // The i-th ready entry (i < available()), read once: the value is untrusted and must be
  // checked by the caller.
  uint32_t peek(uint32_t i) const { return ring_detail::load_relaxed(&slots_[(cons_shadow_ + i) & mask_]); }

  // Releases the first k ready entries to the producer.
  void advance(uint32_t k) {
    if (!k) return;
    cons_shadow_ += k;
    ring_detail::store_release(cons_, cons_shadow_);
  }

  uint32_t dequeue_burst(uint32_t* out, uint32_t n) {
    const uint32_t avail = available(n);
    const uint32_t k = n < avail ? n : avail;
    for (uint32_t i = 0; i < k; ++i) out[i] = peek(i);
    advance(k);
    return k;
  }
  bool dequeue(uint32_t* out) { return dequeue_burst(out, 1) == 1; }

  uint32_t size() const { return size_; }
  bool corrupt() const { return episode_.corrupt(); }
  bool newly_corrupt() { return episode_.take_new(); }
  bool valid() const { return prod_ != nullptr; }

 private:
  uint32_t* prod_ = nullptr;
  uint32_t* cons_ = nullptr;
  uint32_t* slots_ = nullptr;
  uint32_t size_ = 0;
  uint32_t mask_ = 0;
  uint32_t cons_shadow_ = 0;
  uint32_t prod_cache_ = 0;
  ring_detail::CorruptionEpisode episode_;
};

// Entries in a ring as seen from outside (for `machnetctl channels`): clamped to [0, slots]
// because either index may be garbage.
inline uint32_t ring_occupancy(uint8_t* ring, uint32_t slots) {
  auto* h = reinterpret_cast<RingHeader*>(ring);
  const uint32_t used = ring_detail::load_acquire(&h->producer) - ring_detail::load_acquire(&h->consumer);
  return used > slots ? slots : used;
}

}  // namespace machnet::channel
