// Covers: the single-instance guard — a second holder is refused with a message naming the
// socket, the lock is released on destruction, and a lock file left behind (as after a
// crash) does not block the next daemon.
#include "util/instance_lock.h"

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace machnet {
namespace {

class InstanceLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/machnet-lock-XXXXXX";
    dir_ = mkdtemp(tmpl);
    socket_ = dir_ + "/admin.sock";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
  std::string socket_;
};

TEST_F(InstanceLockTest, SecondHolderIsRefused) {
  auto first = InstanceLock::acquire(socket_);
  ASSERT_TRUE(first) << first.error().message;
  // flock is per open file description: a second acquire in this process conflicts too.
  auto second = InstanceLock::acquire(socket_);
  ASSERT_FALSE(second);
  EXPECT_THAT(second.error().message, ::testing::HasSubstr("another machnetd is already serving " + socket_));
}

TEST_F(InstanceLockTest, ReleasedOnDestruction) {
  { auto first = InstanceLock::acquire(socket_); ASSERT_TRUE(first); }
  EXPECT_FALSE(std::filesystem::exists(socket_ + ".lock"));
  EXPECT_TRUE(InstanceLock::acquire(socket_));
}

TEST_F(InstanceLockTest, LockOfADeadProcessDoesNotBlock) {
  // A child takes the lock and dies without cleaning up, as a crashed daemon would.
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = InstanceLock::acquire(socket_);
    _exit(lock ? 0 : 1);  // _exit: no destructors, the lock file stays behind
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT_TRUE(std::filesystem::exists(socket_ + ".lock"));
  EXPECT_TRUE(InstanceLock::acquire(socket_));
}

TEST_F(InstanceLockTest, CreatesTheSocketDirectory) {
  auto lock = InstanceLock::acquire(dir_ + "/run/machnet/admin.sock");
  ASSERT_TRUE(lock) << lock.error().message;
  EXPECT_TRUE(std::filesystem::is_directory(dir_ + "/run/machnet"));
}

TEST_F(InstanceLockTest, UnwritableDirectorySaysWhy) {
  auto lock = InstanceLock::acquire("/proc/machnet-test/admin.sock");
  ASSERT_FALSE(lock);
  EXPECT_THAT(lock.error().message, ::testing::HasSubstr("cannot create directory /proc/machnet-test"));
}

}  // namespace
}  // namespace machnet
