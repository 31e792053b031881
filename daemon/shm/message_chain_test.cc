// lib/channel/message_chain.h: the library's chain writer and reader copy a run of adjacent
// buffers as one block (adjacent_run). Whatever order the buffers come in (one run,
// descending, shuffled, runs broken by gaps, a short buffer inside a run), the bytes land in
// the buffers the chain names and come back out byte-exact, into scattered pieces as well.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "channel/message_chain.h"
#include "shm/channel_memory.h"

namespace machnet::channel {
namespace {

TEST(AdjacentRun, CountsBuffersThatFollowOneAnother) {
  const std::vector<uint32_t> idx{4, 5, 6, 9, 8, 7, 10, 11};
  const auto n = static_cast<uint32_t>(idx.size());
  EXPECT_EQ(adjacent_run(idx.data(), 0, n), 3u);  // 4 5 6, then 9
  EXPECT_EQ(adjacent_run(idx.data(), 1, n), 2u);  // 5 6
  EXPECT_EQ(adjacent_run(idx.data(), 3, n), 1u);  // 9, then 8 goes down
  EXPECT_EQ(adjacent_run(idx.data(), 5, n), 1u);  // 7, then 10 skips
  EXPECT_EQ(adjacent_run(idx.data(), 6, n), 2u);  // 10 11, to the end
  EXPECT_EQ(adjacent_run(idx.data(), 7, n), 1u);
}

// Caller buffers cut into odd pieces, so a block copy crosses piece boundaries.
std::vector<IoPiece> cut(std::vector<uint8_t>& bytes) {
  std::vector<IoPiece> pieces;
  size_t off = 0;
  for (size_t len : {size_t{1000}, size_t{7}, size_t{0}, size_t{12289}}) {
    const size_t k = std::min(len, bytes.size() - off);
    pieces.push_back({bytes.data() + off, k});
    off += k;
  }
  pieces.push_back({bytes.data() + off, bytes.size() - off});
  return pieces;
}

class MessageChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    mem = std::move(shm::ChannelMemory::create(1, ChannelParams{}, false).value());
    view = ChannelView(mem.base(), mem.geometry());
  }
  // `need` app-pool buffers in the given shape.
  std::vector<uint32_t> buffers(uint32_t need, int shape) {
    const auto& g = mem.geometry();
    std::vector<uint32_t> idx(need);
    std::iota(idx.begin(), idx.end(), g.app_pool_first + 5);
    if (shape == 1) std::reverse(idx.begin(), idx.end());
    if (shape == 2) std::shuffle(idx.begin(), idx.end(), std::mt19937(7));
    if (shape == 3)  // runs of three with a gap after each
      for (uint32_t k = 0; k < need; ++k) idx[k] = g.app_pool_first + k + k / 3;
    return idx;
  }
  shm::ChannelMemory mem;
  ChannelView view;
};

TEST_F(MessageChainTest, EveryShapeOfChainCarriesTheBytesBothWays) {
  const uint32_t bs = mem.geometry().buffer_size;
  std::mt19937 rng(42);
  for (int shape = 0; shape < 4; ++shape) {
    for (uint32_t size : {1u, bs, bs + 1, 5 * bs + 17, 64 * bs - 3}) {
      SCOPED_TRACE(testing::Message() << "shape " << shape << ", " << size << " bytes");
      std::vector<uint8_t> msg(size);
      for (auto& byte : msg) byte = static_cast<uint8_t>(rng());
      const std::vector<uint32_t> idx = buffers(buffers_for(size, bs), shape);
      auto in = cut(msg);
      IoCursor src{in.data(), in.size()};
      ASSERT_EQ(fill_chain(view, idx.data(), src, size, 3, 1, 2, 3, 4), idx[0]);
      // Each buffer holds its own part of the message, full buffers first.
      for (size_t k = 0; k < idx.size(); ++k) {
        const uint32_t len = std::min<uint32_t>(bs, size - static_cast<uint32_t>(k) * bs);
        ASSERT_EQ(view.desc(idx[k])->len, len) << "buffer " << k;
        ASSERT_EQ(view.desc(idx[k])->next, k + 1 < idx.size() ? idx[k + 1] : kNoBuffer);
        ASSERT_EQ(std::memcmp(view.data(idx[k]), msg.data() + k * bs, len), 0) << "buffer " << k;
      }
      std::vector<uint32_t> walked(mem.geometry().max_chain);
      uint32_t n = 0;
      BufferDesc head{};
      ASSERT_TRUE(walk_chain(view, idx[0], [this](uint32_t i) { return view.in_app_pool(i); }, walked.data(), &n, &head));
      ASSERT_EQ(n, idx.size());
      std::vector<uint8_t> out(size, 0);
      auto pieces = cut(out);
      IoCursor dst{pieces.data(), pieces.size()};
      copy_chain_out(view, walked.data(), n, dst);
      EXPECT_EQ(out, msg);
    }
  }
}

// walk_chain accepts a short buffer anywhere (only the total must match), so a short buffer
// inside a run of adjacent ones must end the block there, not copy the bytes beyond it.
TEST_F(MessageChainTest, AShortBufferInsideARunEndsTheBlock) {
  const uint32_t bs = mem.geometry().buffer_size;
  const uint32_t first = mem.geometry().app_pool_first;
  const std::vector<uint32_t> idx{first, first + 1, first + 2};
  const std::vector<uint32_t> lens{bs, 100, bs};
  std::vector<uint8_t> expected;
  for (size_t k = 0; k < idx.size(); ++k) {
    std::memset(view.data(idx[k]), static_cast<int>('a' + k), bs);
    BufferDesc* d = view.desc(idx[k]);
    d->len = lens[k];
    d->next = k + 1 < idx.size() ? idx[k + 1] : kNoBuffer;
    expected.insert(expected.end(), lens[k], static_cast<uint8_t>('a' + k));
  }
  view.desc(idx[0])->msg_len = static_cast<uint32_t>(expected.size());
  std::vector<uint8_t> out(expected.size(), 0);
  IoPiece piece{out.data(), out.size()};
  IoCursor dst{&piece, 1};
  copy_chain_out(view, idx.data(), static_cast<uint32_t>(idx.size()), dst);
  EXPECT_EQ(out, expected);
}

}  // namespace
}  // namespace machnet::channel
