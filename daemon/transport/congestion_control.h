// Congestion control, in packets. "swift": a delay-based controller in the spirit of Swift
// (Kumar et al., SIGCOMM 2020): below the target delay the window grows by about one packet
// per RTT; above it, it shrinks at most once per RTT, by more the further over the target
// the delay is; loss shrinks it too (AIMD). The target grows as the window shrinks (Swift's
// flow-based scaling, 3.2): when many flows share a bottleneck each has a small window, and
// a smaller window earns a higher target, so the flows below their fair share grow while
// those above it shrink, and the standing queue grows with the number of flows instead of
// pinning every window at its floor. "fixed": a constant window, like upstream Machnet's 32
// packets, for comparison. Pure logic on the caller's clock.
#pragma once

#include <cstdint>

namespace machnet::transport {

enum class CcAlgorithm : uint8_t { kSwift, kFixed };

struct CcParams {
  CcAlgorithm algorithm = CcAlgorithm::kSwift;
  uint32_t initial_window = 32;
  uint32_t min_window = 2;
  uint32_t max_window = 128;
  uint32_t target_delay_us = 100;
  // Flow-based scaling: up to this much is added to target_delay_us, all of it at
  // min_window, none at max_window, in between as 1/sqrt(window) (Swift 3.2). 0: off.
  // The default is [transport] flow_scaling_range_us's.
  uint32_t flow_scaling_range_us = 1000;
  double additive_increase = 1.0;  // packets per RTT below the target
  double beta = 0.8;               // how hard a delay over the target pulls the window down
  double max_decrease = 0.5;       // the most one decrease may take off (a fraction)
};

class CongestionControl {
 public:
  explicit CongestionControl(const CcParams& p);

  // `acked` packets were newly acknowledged; `delay_us` is the RTT sample they produced
  // (0: none).
  void on_ack(uint32_t acked, uint32_t delay_us, uint64_t now_us);
  // A packet was found lost by SACK (fast retransmit): one multiplicative decrease per RTT.
  void on_loss(uint64_t now_us, uint32_t srtt_us);
  // The retransmission timer fired: the window falls to its floor.
  void on_timeout();

  // A timeout turned out spurious (the "lost" packets had arrived): back to `window`.
  void undo(double window) {
    cwnd_ = window;
    clamp();
  }

  uint32_t window() const { return static_cast<uint32_t>(cwnd_); }
  double exact_window() const { return cwnd_; }
  // The delay the window is steered to now: target_delay_us plus the flow-scaling part.
  uint32_t target_us() const;

 private:
  bool can_decrease(uint64_t now_us, uint32_t rtt_us) const { return now_us - last_decrease_us_ >= rtt_us; }
  void clamp();

  CcParams p_;
  // target_us() = target_delay_us + clamp(fs_alpha_ / sqrt(cwnd) + fs_beta_, 0, range):
  // alpha and beta make it range at min_window and 0 at max_window.
  double fs_alpha_ = 0, fs_beta_ = 0;
  double cwnd_;
  uint64_t last_decrease_us_ = 0;
};

}  // namespace machnet::transport
