#include "transport/rtt_estimator.h"

#include <gtest/gtest.h>

namespace machnet::transport {
namespace {

TEST(RttEstimator, StartsFromTheInitialTimeoutWithinBounds) {
  EXPECT_EQ(RttEstimator(1000, 200000, 10000).rto_us(), 10000u);
  EXPECT_EQ(RttEstimator(1000, 5000, 10000).rto_us(), 5000u);
  EXPECT_EQ(RttEstimator(20000, 200000, 10000).rto_us(), 20000u);
}

TEST(RttEstimator, ConvergesOnASteadyRtt) {
  RttEstimator r(10, 1'000'000, 10000);
  for (int i = 0; i < 100; ++i) r.sample(100);
  EXPECT_EQ(r.srtt_us(), 100u);
  EXPECT_LE(r.rttvar_us(), 2u);
  // A steady RTT (a delay-based controller holding the queue) leaves RTTVAR ~0: the RTO
  // keeps a margin of SRTT/2 anyway, or the queue's next move times out for nothing.
  EXPECT_EQ(r.rto_us(), 150u);
}

TEST(RttEstimator, VarianceWidensTheTimeout) {
  RttEstimator r(10, 1'000'000, 10000);
  for (int i = 0; i < 100; ++i) r.sample(i % 2 ? 50 : 450);
  EXPECT_GT(r.rto_us(), 450u);
}

TEST(RttEstimator, BackoffDoublesUpToTheMaximumAndASampleResetsIt) {
  RttEstimator r(1000, 16000, 1000);
  r.sample(200);  // rto clamps to the 1000 us floor
  EXPECT_EQ(r.rto_us(), 1000u);
  r.back_off();
  EXPECT_EQ(r.rto_us(), 2000u);
  r.back_off();
  r.back_off();
  r.back_off();
  EXPECT_EQ(r.rto_us(), 16000u);
  r.back_off();
  EXPECT_EQ(r.rto_us(), 16000u);
  r.sample(200);
  EXPECT_EQ(r.rto_us(), 1000u);
}

}  // namespace
}  // namespace machnet::transport
