#include "transport/timer_wheel.h"

#include <gtest/gtest.h>

#include <vector>

namespace machnet::transport {
namespace {

struct Fired {
  std::vector<std::pair<int, uint64_t>> log;  // (id, time fired)
};

TEST(TimerWheel, FiresAtOrAfterTheDeadlineNeverBefore) {
  TimerWheel wheel(1000);
  TimerWheel::Timer a, b, c;
  int ida = 1, idb = 2, idc = 3;
  a.owner = &ida, b.owner = &idb, c.owner = &idc;
  wheel.arm(a, 1100);
  wheel.arm(b, 5000);
  wheel.arm(c, 1000 + 10'000'000);  // far beyond the horizon
  Fired f;
  for (uint64_t now = 1000; now <= 1000 + 10'100'000; now += 7) {
    wheel.advance(now, [&](TimerWheel::Timer& t) { f.log.push_back({*static_cast<int*>(t.owner), now}); });
  }
  ASSERT_EQ(f.log.size(), 3u);
  EXPECT_EQ(f.log[0].first, 1);
  EXPECT_GE(f.log[0].second, 1100u);
  EXPECT_LT(f.log[0].second, 1100u + 2 * TimerWheel::kTickUs);
  EXPECT_EQ(f.log[1].first, 2);
  EXPECT_GE(f.log[1].second, 5000u);
  EXPECT_EQ(f.log[2].first, 3);
  EXPECT_GE(f.log[2].second, 1000u + 10'000'000);
  EXPECT_LT(f.log[2].second, 1000u + 10'000'000 + 2 * TimerWheel::kTickUs);
  EXPECT_EQ(wheel.armed_count(), 0u);
}

TEST(TimerWheel, CancelAndRearmFromTheCallback) {
  TimerWheel wheel(0);
  TimerWheel::Timer a, b;
  wheel.arm(a, 100);
  wheel.arm(b, 100);
  wheel.cancel(b);
  int fired = 0;
  wheel.advance(200, [&](TimerWheel::Timer& t) {
    ++fired;
    if (fired < 3) wheel.arm(t, 300 * fired);  // re-arm itself
  });
  EXPECT_EQ(fired, 1);
  wheel.advance(1000, [&](TimerWheel::Timer& t) {
    ++fired;
    if (fired < 3) wheel.arm(t, 1000);
  });
  wheel.advance(2000, [&](TimerWheel::Timer&) { ++fired; });
  EXPECT_EQ(fired, 3);
  EXPECT_FALSE(a.armed());
  EXPECT_FALSE(b.armed());
}

TEST(TimerWheel, ALongStallFiresEverythingDue) {
  TimerWheel wheel(0);
  std::vector<TimerWheel::Timer> timers(100);
  for (size_t i = 0; i < timers.size(); ++i) wheel.arm(timers[i], 1000 + i * 3000);
  int fired = 0;
  wheel.advance(5'000'000, [&](TimerWheel::Timer&) { ++fired; });
  EXPECT_EQ(fired, 100);
}

}  // namespace
}  // namespace machnet::transport
