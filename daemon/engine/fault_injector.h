// Test-only fault injection on the port ([testing] rx_drop, tx_drop, tx_duplicate,
// tx_reorder, tx_delay_us): deterministic for a seed, so a failing run can be repeated.
// Off unless [testing] enabled = true (the config loader refuses the keys otherwise); when
// off, the port never calls in here.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include <rte_mbuf.h>

#include "admin/snapshots.h"
#include "config/config.h"

namespace machnet::engine {

class FaultInjector {
 public:
  explicit FaultInjector(const TestingConfig& t);

  bool active() const { return active_; }
  bool drop_rx() {
    if (t_.rx_drop <= 0 || roll() >= t_.rx_drop) return false;
    bump(counts_.dropped_rx);
    return true;
  }

  // Takes the frames about to be sent and puts in `out` those to send now (dropped ones
  // freed, duplicates copied, reordered and delayed ones held back for due()).
  void on_tx(rte_mbuf** frames, uint16_t n, std::vector<rte_mbuf*>& out, uint64_t now_us);
  // Frames held back whose time has come.
  void due(std::vector<rte_mbuf*>& out, uint64_t now_us);
  bool holding() const { return !delayed_.empty() || !reordered_.empty(); }
  ~FaultInjector();

  // What the injector did so far: any thread (`machnetctl stats`).
  admin::FaultCounters counters() const;

 private:
  double roll() { return uniform_(rng_); }
  // The engine thread is the only writer: a relaxed load and store, no locked add.
  static void bump(std::atomic<uint64_t>& c) { c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }

  struct {
    std::atomic<uint64_t> dropped_rx{0}, dropped_tx{0}, duplicated{0}, reordered{0};
  } counts_;

  TestingConfig t_;
  bool active_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};
  // A reordered frame waits this much longer than the others, so frames sent after it
  // overtake it.
  static constexpr uint64_t kReorderHoldUs = 200;
  // (send at, frame); each queue is in time order because its delay is constant.
  std::deque<std::pair<uint64_t, rte_mbuf*>> delayed_, reordered_;
};

}  // namespace machnet::engine
