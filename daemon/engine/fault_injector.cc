#include "engine/fault_injector.h"

namespace machnet::engine {

FaultInjector::FaultInjector(const TestingConfig& t) : t_(t), active_(t.enabled && t.faults()), rng_(t.fault_seed) {}

FaultInjector::~FaultInjector() {
  for (auto& [at, m] : delayed_) rte_pktmbuf_free(m);
  for (auto& [at, m] : reordered_) rte_pktmbuf_free(m);
}

admin::FaultCounters FaultInjector::counters() const {
  admin::FaultCounters c;
  c.dropped_rx = counts_.dropped_rx.load(std::memory_order_relaxed);
  c.dropped_tx = counts_.dropped_tx.load(std::memory_order_relaxed);
  c.duplicated = counts_.duplicated.load(std::memory_order_relaxed);
  c.reordered = counts_.reordered.load(std::memory_order_relaxed);
  return c;
}

void FaultInjector::on_tx(rte_mbuf** frames, uint16_t n, std::vector<rte_mbuf*>& out, uint64_t now_us) {
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = frames[i];
    if (t_.tx_drop > 0 && roll() < t_.tx_drop) {
      bump(counts_.dropped_tx);
      rte_pktmbuf_free(m);
      continue;
    }
    if (t_.tx_duplicate > 0 && roll() < t_.tx_duplicate) {
      // A copy, not a clone: the PMD may still be reading the original.
      if (rte_mbuf* copy = rte_pktmbuf_copy(m, m->pool, 0, UINT32_MAX)) {
        copy->ol_flags = m->ol_flags;
        copy->l2_len = m->l2_len;
        copy->l3_len = m->l3_len;
        bump(counts_.duplicated);
        out.push_back(copy);
      }
    }
    if (t_.tx_reorder > 0 && roll() < t_.tx_reorder) {
      bump(counts_.reordered);
      reordered_.emplace_back(now_us + t_.tx_delay_us + kReorderHoldUs, m);
    } else if (t_.tx_delay_us > 0) {
      delayed_.emplace_back(now_us + t_.tx_delay_us, m);
    } else {
      out.push_back(m);
    }
  }
}

void FaultInjector::due(std::vector<rte_mbuf*>& out, uint64_t now_us) {
  for (auto* q : {&delayed_, &reordered_}) {
    while (!q->empty() && q->front().first <= now_us) {
      out.push_back(q->front().second);
      q->pop_front();
    }
  }
}

}  // namespace machnet::engine
