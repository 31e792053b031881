// Packets that reached an engine that does not own their flow go to the owner through a
// lock-free ring per (from, to) pair of engines: a SYN for a listener another engine serves,
// a port without RSS, a kernel fan-out (af_packet qpairs) the daemon does not steer. Each
// ring has one producer and one consumer, so rte_ring's single-producer/single-consumer
// mode applies and nothing is locked.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "util/result.h"

namespace machnet::engine {

class Steering {
 public:
  // Frames one engine may have waiting for another; past this they are dropped (counted).
  static constexpr uint32_t kRingSlots = 4096;

  static Result<std::unique_ptr<Steering>> create(uint32_t engines);
  ~Steering();

  uint32_t engines() const { return engines_; }
  // Engine `from` hands `n` frames to engine `to`. Returns how many were taken; the caller
  // frees and counts the rest.
  uint32_t send(uint32_t from, uint32_t to, rte_mbuf* const* frames, uint32_t n) {
    return rte_ring_sp_enqueue_burst(ring(from, to), reinterpret_cast<void* const*>(frames), n, nullptr);
  }
  // Frames other engines handed to engine `to`, up to `max`.
  uint32_t receive(uint32_t to, rte_mbuf** out, uint32_t max) {
    uint32_t got = 0;
    for (uint32_t from = 0; from < engines_ && got < max; ++from) {
      if (from == to) continue;
      got += rte_ring_sc_dequeue_burst(ring(from, to), reinterpret_cast<void**>(out + got), max - got, nullptr);
    }
    return got;
  }

 private:
  explicit Steering(uint32_t engines) : engines_(engines) {}
  rte_ring* ring(uint32_t from, uint32_t to) { return rings_[from * engines_ + to]; }

  const uint32_t engines_;
  std::vector<rte_ring*> rings_;  // [from * engines + to]; null on the diagonal
};

}  // namespace machnet::engine
