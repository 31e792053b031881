// RealEnv's helper programs: output captured, failures reported, and a program that hangs
// killed at the deadline instead of holding the daemon (issue 15, row 11).
#include "nic/env.h"

#include <chrono>

#include <gtest/gtest.h>

namespace machnet::nic {
namespace {

RealEnvOptions with_timeout(std::chrono::milliseconds t) {
  RealEnvOptions o;
  o.command_timeout = t;
  return o;
}

TEST(RealEnvSpawn, CapturesOutputAndReportsFailure) {
  RealEnv env(with_timeout(std::chrono::milliseconds(5000)));
  auto out = env.query({"sh", "-c", "echo hello"});
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(*out, "hello\n");
  auto failed = env.query({"sh", "-c", "exit 3"});
  ASSERT_FALSE(failed);
  EXPECT_NE(failed.error().message.find("exit status 3"), std::string::npos) << failed.error().message;
}

TEST(RealEnvSpawn, AProgramThatHangsIsKilledAtTheDeadline) {
  RealEnv env(with_timeout(std::chrono::milliseconds(300)));
  const auto start = std::chrono::steady_clock::now();
  auto out = env.query({"sleep", "30"});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("did not finish within 300 ms"), std::string::npos) << out.error().message;
  EXPECT_LT(took, std::chrono::seconds(5));
  // Closing its output does not buy more time.
  auto closed = env.query({"sh", "-c", "exec >&-; sleep 30"});
  ASSERT_FALSE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace machnet::nic
