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
