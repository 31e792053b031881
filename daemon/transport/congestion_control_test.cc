#include "transport/congestion_control.h"

#include <gtest/gtest.h>

namespace machnet::transport {
namespace {

CcParams swift() {
  CcParams p;
  p.initial_window = 16;
  p.min_window = 2;
  p.max_window = 128;
  p.target_delay_us = 100;
  p.flow_scaling_range_us = 0;  // the base controller; flow scaling has its own tests below
  return p;
}

CcParams scaled(uint32_t initial_window) {
  CcParams p = swift();
  p.initial_window = initial_window;
  p.flow_scaling_range_us = 1000;
  return p;
}

TEST(CongestionControl, GrowsAboutOnePacketPerRttBelowTheTarget) {
  CongestionControl cc(swift());
  uint64_t now = 0;
  for (int rtt = 0; rtt < 10; ++rtt) {
    const uint32_t w = cc.window();
    for (uint32_t i = 0; i < w; ++i) cc.on_ack(1, 50, now += 1);
  }
  EXPECT_GE(cc.window(), 25u);
  EXPECT_LE(cc.window(), 27u);
}

TEST(CongestionControl, ShrinksAboveTheTargetOncePerRttAndMoreWhenFurtherOver) {
  CongestionControl a(swift()), b(swift());
  a.on_ack(1, 150, 1000);
  b.on_ack(1, 1000, 1000);
  EXPECT_LT(a.window(), 16u);
  EXPECT_LT(b.window(), a.window());
  const uint32_t after_one = b.window();
  b.on_ack(1, 1000, 1100);  // within the same RTT: no second decrease
  EXPECT_EQ(b.window(), after_one);
  b.on_ack(1, 1000, 2100);
  EXPECT_LT(b.window(), after_one);
}

TEST(CongestionControl, NeverLeavesItsBounds) {
  CongestionControl cc(swift());
  uint64_t now = 0;
  for (int i = 0; i < 1000; ++i) cc.on_ack(1, 100'000, now += 200'000);
  EXPECT_EQ(cc.window(), 2u);
  for (int i = 0; i < 100000; ++i) cc.on_ack(4, 10, now += 1);
  EXPECT_EQ(cc.window(), 128u);
  cc.on_timeout();
  EXPECT_EQ(cc.window(), 2u);
}

TEST(CongestionControl, LossHalvesTheWindowOncePerRtt) {
  CongestionControl cc(swift());
  cc.on_loss(1000, 100);
  EXPECT_EQ(cc.window(), 8u);
  cc.on_loss(1050, 100);
  EXPECT_EQ(cc.window(), 8u);
  cc.on_loss(1200, 100);
  EXPECT_EQ(cc.window(), 4u);
}

// Swift 3.2: target + range * (1/sqrt(w) - 1/sqrt(max)) / (1/sqrt(min) - 1/sqrt(max)).
TEST(CongestionControl, FlowScalingRaisesTheTargetAsTheWindowShrinks) {
  EXPECT_EQ(CongestionControl(scaled(2)).target_us(), 1100u);   // min_window: the whole range
  EXPECT_EQ(CongestionControl(scaled(128)).target_us(), 100u);  // max_window: none of it
  // 16 packets: 1000 * (1/4 - 1/sqrt(128)) / (1/sqrt(2) - 1/sqrt(128)) = 261.
  EXPECT_NEAR(CongestionControl(scaled(16)).target_us(), 361u, 1);
  uint32_t last = ~0u;
  for (uint32_t w = 2; w <= 128; ++w) {
    const uint32_t t = CongestionControl(scaled(w)).target_us();
    EXPECT_LE(t, last) << w;
    last = t;
  }
  EXPECT_EQ(CongestionControl(swift()).target_us(), 100u) << "range 0: no scaling";
}

// What makes flows converge: at the same delay a flow below its fair share grows while one
// above it shrinks.
TEST(CongestionControl, AtTheSameDelayASmallWindowGrowsAndALargeOneShrinks) {
  CongestionControl small(scaled(4)), large(scaled(100));
  const uint32_t delay = 300;  // over the large window's target (~110), under the small one's (~450)
  small.on_ack(4, delay, 1000);
  large.on_ack(4, delay, 1000);
  EXPECT_GT(small.exact_window(), 4.0);
  EXPECT_LT(large.exact_window(), 100.0);
}

TEST(CongestionControl, FixedNeverMoves) {
  CcParams p = swift();
  p.algorithm = CcAlgorithm::kFixed;
  p.initial_window = 32;
  CongestionControl cc(p);
  cc.on_ack(10, 10'000, 1);
  cc.on_loss(100000, 10);
  cc.on_timeout();
  EXPECT_EQ(cc.window(), 32u);
}

}  // namespace
}  // namespace machnet::transport
