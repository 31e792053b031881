// RACK's state (RFC 8985 section 6), adapted to a flow whose sequence numbers count
// packets: the send time and transmission order of the most recently sent segment known to
// be delivered, and the reorder window. A segment sent before that one and still not
// delivered after a further reorder window is lost; loss is judged by time, not by a count
// of packets above a hole, so it works with one or two packets in flight (a window-1 RPC,
// a flow just after a timeout), where a duplicate threshold never fires.
//
// Order, not time, says which segment was sent later: the engine reads its clock once per
// burst, so a burst's segments share a send time; each transmission also takes the next
// value of a per-flow counter (RFC 8985's end_seq tie-break, generalised to
// retransmissions). Pure logic, no allocation; the flow walks its segments and asks.
#pragma once

#include <algorithm>
#include <cstdint>

#include "transport/seq.h"

namespace machnet::transport {

class Rack {
 public:
  // A segment was newly reported delivered (cumulatively or by SACK). `sent_us`/`order`:
  // its latest transmission; `retransmitted`: it was sent more than once. Returns true
  // when the delivery looks like the original's after a needless retransmission: the ACK
  // came sooner than any round trip could (RFC 8985 6.2 step 2), which widens the window.
  bool on_delivered(uint64_t sent_us, uint32_t order, bool retransmitted, uint64_t now_us, uint32_t min_rtt_us) {
    const uint64_t rtt = now_us >= sent_us ? now_us - sent_us : 0;
    if (retransmitted && rtt < min_rtt_us) {
      spurious();
      return true;
    }
    if (!valid_ || seq_gt(order, order_)) {
      valid_ = true;
      order_ = order;
      rtt_us_ = static_cast<uint32_t>(std::min<uint64_t>(rtt, 0xffffffffu));
    }
    return false;
  }

  // Reordering window: a quarter of the minimum RTT, times a multiplier that grows with
  // each needless retransmission, never more than SRTT (RFC 8985 6.2 step 4). Without a
  // duplicate-threshold shortcut: a flow of a few packets has no threshold to meet.
  uint32_t reo_wnd_us(uint32_t min_rtt_us, uint32_t srtt_us) const {
    const uint64_t w = uint64_t{min_rtt_us} / 4 * mult_;
    return static_cast<uint32_t>(std::min<uint64_t>(w, srtt_us));
  }

  // Whether a segment with transmission `order` went out before the latest delivered one:
  // only those can be judged lost.
  bool sent_before_latest(uint32_t order) const { return valid_ && seq_lt(order, order_); }
  // When a segment sent at `sent_us` (before the latest delivered one) counts as lost: it
  // had the latest delivered segment's round trip plus the reorder window to arrive.
  uint64_t lost_at_us(uint64_t sent_us, uint32_t reo_wnd_us) const { return sent_us + rtt_us_ + reo_wnd_us; }

  // A recovery episode ended: after 16 of them without a needless retransmission, the
  // window goes back to its base (RFC 8985 6.2 step 4, reo_wnd_persist).
  void on_recovery_end() {
    if (mult_ > 1 && --persist_ == 0) mult_ = 1;
  }

  bool valid() const { return valid_; }
  uint32_t rtt_us() const { return rtt_us_; }
  uint32_t multiplier() const { return mult_; }

 private:
  void spurious() {
    if (mult_ < kMaxMult) ++mult_;
    persist_ = 16;
  }

  static constexpr uint32_t kMaxMult = 16;
  bool valid_ = false;
  uint32_t order_ = 0;
  uint32_t rtt_us_ = 0;
  uint32_t mult_ = 1;
  uint32_t persist_ = 0;
};

}  // namespace machnet::transport
