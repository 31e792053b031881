// SpinPolicy: spins go on while they catch packets, stop when they keep running out, and
// are tried again now and then.
#include "engine/spin_policy.h"

#include <gtest/gtest.h>

namespace machnet::engine {
namespace {

int spins_in(SpinPolicy& p, int spells) {
  int n = 0;
  for (int i = 0; i < spells; ++i) n += p.start_spell() ? 1 : 0;
  return n;
}

TEST(SpinPolicy, SpinsWhileSpinsCatchPackets) {
  SpinPolicy p;
  // Pinned sides (measured): about 8 caught for every 1-2 expired.
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(p.start_spell());
    if (i % 6 == 5) p.expired();
    else p.caught();
  }
  EXPECT_EQ(p.score(), SpinPolicy::kLimit);
}

TEST(SpinPolicy, StopsWhenSpinsKeepRunningOutAndProbesNowAndThen) {
  SpinPolicy p;
  // Unpinned (measured): spins nearly always run out. Each spell that spins expires.
  int spun = 0;
  for (int i = 0; i < 1600; ++i) {
    if (p.start_spell()) {
      ++spun;
      p.expired();
    }
  }
  EXPECT_EQ(p.score(), -SpinPolicy::kLimit);
  // One spell starts the slide, then one in kProbeEvery: about 100 of 1600, not 1600.
  EXPECT_LE(spun, 1 + 1600 / static_cast<int>(SpinPolicy::kProbeEvery));
  EXPECT_GE(spun, 1600 / static_cast<int>(SpinPolicy::kProbeEvery) - 1);
}

TEST(SpinPolicy, ComesBackWhenProbesCatchPacketsAgain) {
  SpinPolicy p;
  for (int i = 0; i < 64; ++i) p.expired();
  ASSERT_LT(spins_in(p, 64), 64);
  // Placement changed: every probe now catches its packet.
  int spells = 0;
  while (p.score() < 0 && spells < 10000) {
    if (p.start_spell()) p.caught();
    ++spells;
  }
  EXPECT_GE(p.score(), 0);
  EXPECT_LE(spells, SpinPolicy::kLimit * static_cast<int>(SpinPolicy::kProbeEvery));
  EXPECT_EQ(spins_in(p, 10), 10);
}

TEST(SpinPolicy, ScoreStaysWithinItsLimits) {
  SpinPolicy p;
  for (int i = 0; i < 100; ++i) p.caught();
  EXPECT_EQ(p.score(), SpinPolicy::kLimit);
  for (int i = 0; i < 200; ++i) p.expired();
  EXPECT_EQ(p.score(), -SpinPolicy::kLimit);
}

}  // namespace
}  // namespace machnet::engine
