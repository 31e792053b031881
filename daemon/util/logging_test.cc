// Covers: the rate limiter behind MACHNET_LOG_RATE_LIMITED — a burst passes, the rest is
// counted, and the count is reported with the next message allowed.
#include "util/logging.h"

#include <thread>

#include <gtest/gtest.h>

namespace machnet::logging {
namespace {

TEST(RateLimiter, AllowsABurstThenCountsWhatItSuppresses) {
  RateLimiter limiter(3, std::chrono::milliseconds(50));
  uint64_t suppressed = 99;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limiter.allow(suppressed));
    EXPECT_EQ(suppressed, 0u);
  }
  for (int i = 0; i < 7; ++i) EXPECT_FALSE(limiter.allow(suppressed));
  // A new window: allowed again, and told how many were dropped.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!limiter.allow(suppressed)) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE(suppressed, 7u);
}

TEST(Logging, LevelsMapToSpdlog) {
  EXPECT_EQ(to_spdlog(LogLevel::kWarning), spdlog::level::warn);
  EXPECT_EQ(to_spdlog(LogLevel::kError), spdlog::level::err);
  EXPECT_EQ(to_spdlog(LogLevel::kTrace), spdlog::level::trace);
}

}  // namespace
}  // namespace machnet::logging
