#include "transport/congestion_control.h"

#include <algorithm>
#include <cmath>

namespace machnet::transport {

CongestionControl::CongestionControl(const CcParams& p) : p_(p), cwnd_(p.initial_window) {
  if (p_.min_window == 0) p_.min_window = 1;
  if (p_.max_window < p_.min_window) p_.max_window = p_.min_window;
  // With min_window == max_window there is nothing to scale between: no scaling.
  if (p_.flow_scaling_range_us > 0 && p_.max_window > p_.min_window) {
    const double lo = 1.0 / std::sqrt(double(p_.max_window)), hi = 1.0 / std::sqrt(double(p_.min_window));
    fs_alpha_ = p_.flow_scaling_range_us / (hi - lo);
    fs_beta_ = -fs_alpha_ * lo;
  }
  clamp();
}

uint32_t CongestionControl::target_us() const {
  if (fs_alpha_ == 0) return p_.target_delay_us;
  const double fs = std::clamp(fs_alpha_ / std::sqrt(cwnd_) + fs_beta_, 0.0, double(p_.flow_scaling_range_us));
  return p_.target_delay_us + static_cast<uint32_t>(fs);
}

void CongestionControl::clamp() { cwnd_ = std::clamp(cwnd_, double(p_.min_window), double(p_.max_window)); }

void CongestionControl::on_ack(uint32_t acked, uint32_t delay_us, uint64_t now_us) {
  if (p_.algorithm == CcAlgorithm::kFixed || acked == 0) return;
  const uint32_t target = target_us();
  if (delay_us == 0 || delay_us <= target) {
    // Additive increase spread over a window's worth of ACKs: +ai per RTT.
    cwnd_ += p_.additive_increase * acked / cwnd_;
  } else if (can_decrease(now_us, delay_us)) {
    const double over = double(delay_us - target) / delay_us;
    cwnd_ *= std::max(1.0 - p_.beta * over, 1.0 - p_.max_decrease);
    last_decrease_us_ = now_us;
  }
  clamp();
}

void CongestionControl::on_loss(uint64_t now_us, uint32_t srtt_us) {
  if (p_.algorithm == CcAlgorithm::kFixed || !can_decrease(now_us, srtt_us)) return;
  cwnd_ *= 1.0 - p_.max_decrease;
  last_decrease_us_ = now_us;
  clamp();
}

void CongestionControl::on_timeout() {
  if (p_.algorithm == CcAlgorithm::kFixed) return;
  cwnd_ = p_.min_window;
  clamp();
}

}  // namespace machnet::transport
