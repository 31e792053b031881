// The steering rings: what one engine hands another arrives in order, exactly once, only
// at its destination; a full ring refuses instead of blocking.
#include "engine/steering.h"

#include <gtest/gtest.h>

#include <thread>

namespace machnet::engine {
namespace {

rte_mbuf* fake(uintptr_t n) { return reinterpret_cast<rte_mbuf*>(n << 6); }  // never dereferenced

TEST(Steering, FramesReachOnlyTheirDestinationInOrder) {
  auto s = Steering::create(3);
  ASSERT_TRUE(s) << s.error().message;
  rte_mbuf* batch[4] = {fake(1), fake(2), fake(3), fake(4)};
  EXPECT_EQ((*s)->send(0, 2, batch, 4), 4u);
  rte_mbuf* out[8];
  EXPECT_EQ((*s)->receive(1, out, 8), 0u);
  ASSERT_EQ((*s)->receive(2, out, 8), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], batch[i]);
  EXPECT_EQ((*s)->receive(2, out, 8), 0u);
}

TEST(Steering, AFullRingRefusesTheRest) {
  auto s = Steering::create(2);
  ASSERT_TRUE(s);
  std::vector<rte_mbuf*> many(Steering::kRingSlots + 10);
  for (size_t i = 0; i < many.size(); ++i) many[i] = fake(i + 1);
  const uint32_t taken = (*s)->send(1, 0, many.data(), static_cast<uint32_t>(many.size()));
  EXPECT_LT(taken, many.size());
  EXPECT_GE(taken, Steering::kRingSlots - 1);
  std::vector<rte_mbuf*> out(many.size());
  EXPECT_EQ((*s)->receive(0, out.data(), static_cast<uint32_t>(out.size())), taken);
}

TEST(Steering, OneProducerOneConsumerAcrossThreadsLosesNothing) {
  auto s = Steering::create(2);
  ASSERT_TRUE(s);
  constexpr uintptr_t kCount = 200'000;
  std::thread producer([&] {
    for (uintptr_t i = 1; i <= kCount;) {
      rte_mbuf* m = fake(i);
      if ((*s)->send(0, 1, &m, 1) == 1) ++i;
    }
  });
  uintptr_t next = 1;
  rte_mbuf* out[32];
  while (next <= kCount) {
    const uint32_t n = (*s)->receive(1, out, 32);
    for (uint32_t i = 0; i < n; ++i) ASSERT_EQ(out[i], fake(next++));
  }
  producer.join();
}

}  // namespace
}  // namespace machnet::engine
