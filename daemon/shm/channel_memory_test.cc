// ChannelMemory: the memfd is sealed against shrinking, growing and re-sealing, the header
// the library reads back describes exactly the daemon's geometry, the app pool starts in the
// app's free ring, and the layout's static facts hold for odd parameters. Not covered:
// hugetlb (this test machine has no huge pages; the fallback path is what runs here).
#include "shm/channel_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "channel/channel_view.h"
#include "channel/spsc_ring.h"

namespace machnet::shm {
namespace {

using namespace machnet::channel;

TEST(ChannelMemory, IsSealedAgainstResizing) {
  auto m = ChannelMemory::create(5, ChannelParams{}, true);
  ASSERT_TRUE(m) << m.error().message;
  const int seals = fcntl(m->memfd(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  EXPECT_NE(ftruncate(m->memfd(), 4096), 0);
  EXPECT_NE(ftruncate(m->memfd(), static_cast<off_t>(m->geometry().total_size) * 2), 0);
  EXPECT_NE(fcntl(m->memfd(), F_ADD_SEALS, F_SEAL_WRITE), 0);
  EXPECT_EQ(lseek(m->memfd(), 0, SEEK_END), static_cast<off_t>(m->geometry().total_size));
}

TEST(ChannelMemory, HeaderReadsBackAsTheDaemonsGeometry) {
  auto m = ChannelMemory::create(77, ChannelParams{}, false);
  ASSERT_TRUE(m);
  // Map it a second time, as the application does.
  const auto& g = m->geometry();
  void* p = mmap(nullptr, g.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, m->memfd(), 0);
  ASSERT_NE(p, MAP_FAILED);
  ChannelGeometry back;
  EXPECT_EQ(read_header(static_cast<ChannelHeader*>(p), g.total_size, &back), nullptr);
  EXPECT_EQ(static_cast<ChannelHeader*>(p)->channel_id, 77u);
  EXPECT_EQ(back.buffer_size, g.buffer_size);
  EXPECT_EQ(back.max_message_bytes, 8u << 20);
  EXPECT_EQ(back.max_chain, g.max_chain);
  EXPECT_EQ(back.data_offset, g.data_offset);
  EXPECT_EQ(back.app_free.offset, g.app_free.offset);
  // The whole app pool waits in the app's free ring.
  RingConsumer app_free(static_cast<uint8_t*>(p) + g.app_free.offset, g.app_free.slots, 0);
  EXPECT_EQ(app_free.available(), g.app_pool_count);
  EXPECT_EQ(app_free.peek(0), g.app_pool_first);
  // A truncated view or a wrong magic is refused, never trusted.
  EXPECT_NE(read_header(static_cast<ChannelHeader*>(p), g.total_size / 2, &back), nullptr);
  static_cast<ChannelHeader*>(p)->magic ^= 1;
  EXPECT_NE(read_header(static_cast<ChannelHeader*>(p), g.total_size, &back), nullptr);
  munmap(p, g.total_size);
}

TEST(ChannelGeometry, CapsMessagesAtOnePoolAndRoundsRings) {
  ChannelParams p;
  p.buffers = 10;           // 5 per pool
  p.buffer_size = 1000;     // rounded up to 1024
  p.ring_slots = 100;       // rounded up to 128
  const ChannelGeometry g = compute_geometry(p);
  EXPECT_EQ(g.buffer_size, 1024u);
  EXPECT_EQ(g.app_pool_count, 5u);
  EXPECT_EQ(g.max_message_bytes, 5u * 1024);
  EXPECT_EQ(g.max_chain, 5u);
  EXPECT_EQ(g.to_daemon.slots, 128u);
  EXPECT_GE(g.app_free.slots, g.app_pool_count);
  EXPECT_EQ(g.total_size % 4096, 0u);
  EXPECT_EQ(g.data_offset % 4096, 0u);
  for (const RingRef* r : {&g.to_daemon, &g.to_app, &g.app_free, &g.daemon_free}) EXPECT_EQ(r->offset % kCacheLine, 0u);
}

}  // namespace
}  // namespace machnet::shm
