// check_chain against corrupted descriptors: every way an application can lie about a
// chain is refused with the right reason, claims nothing it should not, and good chains
// pass. Not covered: ring indices (spsc_ring_test) and delivery (engine/local_delivery_test).
#include "shm/chain_validator.h"

#include <gtest/gtest.h>

#include <vector>

#include "shm/channel_memory.h"

namespace machnet::shm {
namespace {

using namespace machnet::channel;

class ValidatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ChannelParams p;
    p.buffer_size = 1024;
    p.buffers = 64;  // 32 per pool: max message 32 KiB, max chain 32
    p.max_message_bytes = 1u << 20;
    mem = std::move(ChannelMemory::create(9, p, false).value());
    view = ChannelView(mem.base(), mem.geometry());
    owned.assign(mem.geometry().app_pool_count, 1);
    idx.resize(mem.geometry().max_chain);
    len.resize(mem.geometry().max_chain);
  }
  // Links buffers `chain` into a message of msg_len bytes with the given per-buffer lengths.
  uint32_t make(const std::vector<uint32_t>& chain, const std::vector<uint32_t>& lens, uint32_t msg_len) {
    for (size_t k = 0; k < chain.size(); ++k) {
      view.desc(chain[k])->len = lens[k];
      view.desc(chain[k])->next = k + 1 < chain.size() ? chain[k + 1] : kNoBuffer;
    }
    view.desc(chain[0])->msg_len = msg_len;
    return chain[0];
  }
  uint32_t check(uint32_t head) { return check_chain(view, head, owned, idx.data(), len.data(), &msg, &claimed); }
  uint32_t owned_count() const {
    uint32_t n = 0;
    for (auto o : owned) n += o;
    return n;
  }

  ChannelMemory mem;
  ChannelView view;
  std::vector<uint8_t> owned;
  std::vector<uint32_t> idx, len;
  CheckedMessage msg;
  uint32_t claimed = 0;
};

TEST_F(ValidatorTest, GoodChainsPassAndAreClaimed) {
  EXPECT_EQ(check(make({3, 5, 4}, {1024, 1024, 10}, 2058)), kDropReasonCount);
  EXPECT_EQ(msg.count, 3u);
  EXPECT_EQ(msg.msg_len, 2058u);
  EXPECT_EQ(owned_count(), 32u - 3);
  EXPECT_EQ(check(make({7}, {0}, 0)), kDropReasonCount);  // zero-length message
  EXPECT_EQ(msg.count, 1u);
}

TEST_F(ValidatorTest, SendingTheSameBufferTwiceIsRefused) {
  EXPECT_EQ(check(make({1}, {5}, 5)), kDropReasonCount);
  EXPECT_EQ(check(1), kDropBadBufferIndex);  // already the daemon's
}

TEST_F(ValidatorTest, IndicesOutsideTheAppPoolAreRefused) {
  const auto& g = mem.geometry();
  EXPECT_EQ(check(g.buffer_count), kDropBadBufferIndex);
  EXPECT_EQ(check(0xfffffffeu), kDropBadBufferIndex);
  EXPECT_EQ(check(g.daemon_pool_first), kDropBadBufferIndex);  // the daemon's own pool
  // A good head whose chain wanders into the daemon pool: refused, and the head was claimed
  // (so the caller gives it back).
  view.desc(2)->len = 1024;
  view.desc(2)->next = g.daemon_pool_first + 1;
  view.desc(2)->msg_len = 2048;
  EXPECT_EQ(check(2), kDropBadBufferIndex);
  EXPECT_EQ(claimed, 1u);
  unclaim(view, owned, idx.data(), claimed);
  EXPECT_EQ(owned_count(), 32u);
}

TEST_F(ValidatorTest, CyclesAndOverlongChainsAreRefused) {
  view.desc(4)->len = 1024;
  view.desc(4)->next = 4;  // points at itself
  view.desc(4)->msg_len = 4096;
  EXPECT_EQ(check(4), kDropBadBufferIndex);
  unclaim(view, owned, idx.data(), claimed);
  make({1, 2, 3}, {1024, 1024, 1024}, 2048);  // three buffers for a two-buffer message
  EXPECT_EQ(check(1), kDropBadChain);
  unclaim(view, owned, idx.data(), claimed);
  make({5, 6}, {1024, 1024}, 4096);  // ends early
  EXPECT_EQ(check(5), kDropBadChain);
}

TEST_F(ValidatorTest, LengthsAreChecked) {
  make({1, 2}, {1024, 2000}, 3024);  // buffer length beyond buffer_size
  EXPECT_EQ(check(1), kDropBadLength);
  unclaim(view, owned, idx.data(), claimed);
  make({1, 2, 3}, {1024, 2000, 0}, 3024);
  EXPECT_EQ(check(1), kDropBadLength);
  unclaim(view, owned, idx.data(), claimed);
  make({1, 2}, {1024, 100}, 1000);  // lengths do not add up to msg_len
  EXPECT_EQ(check(1), kDropBadChain);
  unclaim(view, owned, idx.data(), claimed);
  view.desc(9)->msg_len = 0xffffffffu;  // beyond max_message_bytes
  EXPECT_EQ(check(9), kDropBadLength);
  EXPECT_EQ(claimed, 1u);  // the head, for the caller to hand back
  EXPECT_EQ(idx[0], 9u);
}

TEST_F(ValidatorTest, RandomGarbageNeverPassesUnlessConsistent) {
  // Fill every descriptor with random bytes; whatever check_chain accepts must be internally
  // consistent, and it must never claim a buffer outside the app pool.
  std::srand(1);
  const auto& g = mem.geometry();
  for (int round = 0; round < 2000; ++round) {
    auto* raw = reinterpret_cast<uint8_t*>(view.desc(0));
    for (size_t i = 0; i < g.buffer_count * sizeof(BufferDesc); ++i) raw[i] = static_cast<uint8_t>(std::rand());
    for (uint32_t i = 0; i < g.app_pool_count; ++i) {
      if (std::rand() % 2) view.desc(i)->next = std::rand() % (g.app_pool_count + 2);
      if (std::rand() % 2) view.desc(i)->len = std::rand() % 1100;
      if (std::rand() % 2) view.desc(i)->msg_len = std::rand() % 5000;
    }
    owned.assign(g.app_pool_count, 1);
    const uint32_t head = std::rand() % (g.buffer_count + 4);
    if (check(head) == kDropReasonCount) {
      uint64_t total = 0;
      for (uint32_t k = 0; k < msg.count; ++k) total += len[k];
      ASSERT_EQ(total, msg.msg_len);
      ASSERT_EQ(msg.count, buffers_for(msg.msg_len, g.buffer_size));
    }
    for (uint32_t k = 0; k < claimed; ++k) ASSERT_TRUE(view.in_app_pool(idx[k]));
  }
}

}  // namespace
}  // namespace machnet::shm
