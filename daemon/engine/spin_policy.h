// Whether an idle engine should keep polling for a moment ([engine] adaptive_spin_us) before
// it gives the core away, learnt from how its recent spins ended.
//
// A spin pays when the next packet arrives while it lasts: the reply from a peer running on
// another core, caught without handing the core to an application that has nothing to do
// (two context switches for nothing). It only costs when what the engine waits for needs
// this very core, such as a peer daemon the scheduler placed beside it: then spins keep
// running out (measured on 2 vCPUs, memif, window 1: 55-58 % of idle spells caught the
// packet with each side pinned to its own core, 2-3 % unpinned, where spinning halved the
// rate). So the engine spins while caught spins keep up with expired ones, and otherwise
// yields at once, spinning once every kProbeEvery idle spells to notice when that changes.
// Spells an application cut short (it had messages to read) count neither way.
#pragma once

#include <algorithm>
#include <cstdint>

namespace machnet::engine {

class SpinPolicy {
 public:
  static constexpr int kLimit = 16;            // the score remembers only recent spells
  static constexpr uint32_t kProbeEvery = 16;  // idle spells between tries while spins do not pay

  // At the start of an idle spell: spin this time?
  bool start_spell() {
    if (score_ >= 0) return true;
    return ++since_probe_ % kProbeEvery == 0;
  }
  void caught() { score_ = std::min(score_ + 1, kLimit); }
  void expired() { score_ = std::max(score_ - 1, -kLimit); }
  int score() const { return score_; }

 private:
  int score_ = 0;
  uint32_t since_probe_ = 0;
};

}  // namespace machnet::engine
