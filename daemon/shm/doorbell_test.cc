// The doorbell socketpair (shm/doorbell.h, channel/doorbell_socket.h): rings cross, drains
// empty the end, nothing the application does to its end makes the daemon's side block, and
// a closed application end is seen as closed.
#include "shm/doorbell.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>

#include <gtest/gtest.h>

#include "channel/doorbell_socket.h"

namespace machnet::shm {
namespace {

using channel::doorbell_drain;
using channel::doorbell_ring;

TEST(Doorbell, RingsCrossInBothDirections) {
  auto d = Doorbell::create(1);
  ASSERT_TRUE(d) << d.error().message;
  doorbell_ring(d->daemon_fd());
  doorbell_ring(d->daemon_fd());
  EXPECT_EQ(doorbell_drain(d->app_fd()).rings, 2u);
  EXPECT_EQ(doorbell_drain(d->app_fd()).rings, 0u);  // drained
  EXPECT_EQ(doorbell_drain(d->daemon_fd()).rings, 0u);  // our own rings never come back
  doorbell_ring(d->app_fd());
  const auto got = doorbell_drain(d->daemon_fd());
  EXPECT_EQ(got.rings, 1u);
  EXPECT_FALSE(got.closed);
}

TEST(Doorbell, AnAppThatMakesItsEndBlockingAndNeverReadsCannotBlockTheDaemon) {
  auto d = Doorbell::create(2);
  ASSERT_TRUE(d) << d.error().message;
  // What the application can do to its descriptor: clear O_NONBLOCK. With a shared eventfd
  // this changed the daemon's file description too.
  ASSERT_EQ(fcntl(d->app_fd(), F_SETFL, fcntl(d->app_fd(), F_GETFL) & ~O_NONBLOCK), 0);
  EXPECT_NE(fcntl(d->daemon_fd(), F_GETFL) & O_NONBLOCK, 0);
  // Far more rings than the small send buffer holds: each returns at once.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100000; ++i) doorbell_ring(d->daemon_fd());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // The queue is bounded by the send buffer, not by the number of rings.
  uint64_t queued = 0;
  for (int i = 0; i < 1000; ++i) {
    const auto got = doorbell_drain(d->app_fd());
    if (got.rings == 0) break;
    queued += got.rings;
  }
  EXPECT_GT(queued, 0u);
  EXPECT_LT(queued, 100000u);
}

TEST(Doorbell, TheDaemonSeesAClosedAppEnd) {
  auto d = Doorbell::create(3);
  ASSERT_TRUE(d) << d.error().message;
  d->close_app_end();
  EXPECT_EQ(d->app_fd(), -1);
  EXPECT_TRUE(doorbell_drain(d->daemon_fd()).closed);
  doorbell_ring(d->daemon_fd());  // no SIGPIPE (MSG_NOSIGNAL): the test would die here
}

TEST(Doorbell, MovesOwnTheDescriptors) {
  auto d = Doorbell::create(4);
  ASSERT_TRUE(d) << d.error().message;
  const int fd = d->daemon_fd();
  Doorbell moved = std::move(*d);
  EXPECT_EQ(d->daemon_fd(), -1);
  EXPECT_EQ(moved.daemon_fd(), fd);
  EXPECT_GE(fcntl(fd, F_GETFD), 0);
}

}  // namespace
}  // namespace machnet::shm
