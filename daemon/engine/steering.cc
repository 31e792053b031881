#include "engine/steering.h"

#include <rte_errno.h>

#include <cstdlib>

#include <fmt/format.h>

namespace machnet::engine {

Result<std::unique_ptr<Steering>> Steering::create(uint32_t engines) {
  std::unique_ptr<Steering> s(new Steering(engines));
  s->rings_.assign(size_t{engines} * engines, nullptr);
  for (uint32_t from = 0; from < engines; ++from) {
    for (uint32_t to = 0; to < engines; ++to) {
      if (from == to) continue;
      // In our own memory, not a DPDK memzone: the rings work without hugepages or an
      // EAL (unit tests), and nothing else needs to find them by name.
      const ssize_t size = rte_ring_get_memsize(kRingSlots);
      void* mem = size > 0 ? std::aligned_alloc(RTE_CACHE_LINE_SIZE, static_cast<size_t>(size)) : nullptr;
      if (mem == nullptr) return make_error(fmt::format("no memory for the ring from engine {} to engine {}", from, to));
      auto* r = static_cast<rte_ring*>(mem);
      if (int rc = rte_ring_init(r, fmt::format("mn_steer_{}_{}", from, to).c_str(), kRingSlots,
                                 RING_F_SP_ENQ | RING_F_SC_DEQ);
          rc != 0) {
        std::free(mem);
        return make_error(fmt::format("cannot set up the ring from engine {} to engine {}: {}", from, to,
                                      rte_strerror(-rc)));
      }
      s->rings_[from * engines + to] = r;
    }
  }
  return s;
}

Steering::~Steering() {
  for (rte_ring* r : rings_) {
    if (r == nullptr) continue;
    void* m;
    while (rte_ring_sc_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    std::free(r);
  }
}

}  // namespace machnet::engine
