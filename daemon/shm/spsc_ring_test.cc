// The SPSC ring over raw memory: wrap-around, full/empty, bursts of every size, two threads
// hammering it, and corrupted opposite indices (a hostile peer). Not covered here: the ring
// inside a real channel (engine tests and the integration tests do that).
#include "channel/spsc_ring.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace machnet::channel {
namespace {

struct RingMemory {
  explicit RingMemory(uint32_t slots) : slots(slots), bytes(ring_bytes(slots) + kCacheLine) {
    base = reinterpret_cast<uint8_t*>(align_up(reinterpret_cast<uintptr_t>(bytes.data()), kCacheLine));
    ring_format(base);
  }
  uint32_t slots;
  std::vector<uint8_t> bytes;
  uint8_t* base;
  RingHeader* header() { return reinterpret_cast<RingHeader*>(base); }
};

TEST(SpscRing, EmptyThenFullThenEmpty) {
  RingMemory m(8);
  RingProducer p(m.base, 8, 0);
  RingConsumer c(m.base, 8, 0);
  uint32_t out;
  EXPECT_FALSE(c.dequeue(&out));
  for (uint32_t i = 0; i < 8; ++i) EXPECT_TRUE(p.enqueue(i));
  EXPECT_FALSE(p.enqueue(99));
  EXPECT_EQ(p.free_space(), 0u);
  for (uint32_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(c.dequeue(&out));
    EXPECT_EQ(out, i);
  }
  EXPECT_FALSE(c.dequeue(&out));
  EXPECT_EQ(p.free_space(), 8u);
}

// The engine keeps the core while every application has read what it was handed: drained()
// must say "not yet" until the consumer took the last entry, whatever the producer cached.
TEST(SpscRing, DrainedOnlyWhenTheConsumerTookEverything) {
  RingMemory m(8);
  RingProducer p(m.base, 8, 0);
  RingConsumer c(m.base, 8, 0);
  EXPECT_TRUE(p.drained());
  ASSERT_TRUE(p.enqueue(1));
  ASSERT_TRUE(p.enqueue(2));
  EXPECT_FALSE(p.drained());
  uint32_t out;
  ASSERT_TRUE(c.dequeue(&out));
  EXPECT_FALSE(p.drained());
  ASSERT_TRUE(c.dequeue(&out));
  EXPECT_TRUE(p.drained());
  ASSERT_TRUE(p.enqueue(3));
  EXPECT_FALSE(p.drained());
}

TEST(SpscRing, WrapsAroundIndexOverflow) {
  // Start both indices just below 2^32 so the free-running counters overflow mid-test.
  RingMemory m(4);
  const uint32_t start = 0xfffffffeu;
  m.header()->producer = start;
  m.header()->consumer = start;
  RingProducer p(m.base, 4, start);
  RingConsumer c(m.base, 4, start);
  uint32_t next_in = 0, next_out = 0;
  for (int round = 0; round < 100; ++round) {
    for (int k = 0; k < 3; ++k) ASSERT_TRUE(p.enqueue(next_in++));
    uint32_t v;
    for (int k = 0; k < 3; ++k) {
      ASSERT_TRUE(c.dequeue(&v));
      ASSERT_EQ(v, next_out++);
    }
  }
  EXPECT_FALSE(p.corrupt());
  EXPECT_FALSE(c.corrupt());
}

TEST(SpscRing, BurstsOfEverySize) {
  RingMemory m(64);
  RingProducer p(m.base, 64, 0);
  RingConsumer c(m.base, 64, 0);
  std::vector<uint32_t> in(100), out(100);
  uint32_t seq = 0, expect = 0;
  for (uint32_t burst = 1; burst <= 100; ++burst) {
    for (uint32_t i = 0; i < burst; ++i) in[i] = seq + i;
    const uint32_t put = p.enqueue_burst(in.data(), burst);
    EXPECT_EQ(put, std::min<uint32_t>(burst, 64));
    seq += put;
    EXPECT_FALSE(p.enqueue_bulk(in.data(), 65));  // never more than the ring
    const uint32_t got = c.dequeue_burst(out.data(), 100);
    ASSERT_EQ(got, put);
    for (uint32_t i = 0; i < got; ++i) ASSERT_EQ(out[i], expect++);
  }
}

TEST(SpscRing, ConcurrentProducerConsumerStress) {
  RingMemory m(256);
  constexpr uint32_t kCount = 2'000'000;
  std::thread producer([&] {
    RingProducer p(m.base, 256, 0);
    uint32_t buf[17];
    uint32_t next = 0;
    while (next < kCount) {
      const uint32_t n = std::min<uint32_t>(1 + next % 17, kCount - next);
      for (uint32_t i = 0; i < n; ++i) buf[i] = next + i;
      next += p.enqueue_burst(buf, n);
    }
  });
  RingConsumer c(m.base, 256, 0);
  uint32_t buf[32];
  uint32_t expect = 0;
  bool ordered = true;
  while (expect < kCount) {
    const uint32_t n = c.dequeue_burst(buf, 1 + expect % 32);
    for (uint32_t i = 0; i < n; ++i) ordered &= buf[i] == expect++;
  }
  producer.join();
  EXPECT_TRUE(ordered);
  EXPECT_FALSE(c.corrupt());
}

TEST(SpscRing, CorruptProducerIndexIsReportedNotUsed) {
  RingMemory m(16);
  RingConsumer c(m.base, 16, 0);
  m.header()->producer = 1000;  // a hostile producer claims 1000 entries in a 16-slot ring
  uint32_t out[16];
  EXPECT_EQ(c.available(), 0u);
  EXPECT_EQ(c.dequeue_burst(out, 16), 0u);
  EXPECT_TRUE(c.corrupt());
  m.header()->producer = 0xffffffffu;  // "behind" the consumer
  EXPECT_EQ(c.available(), 0u);
  EXPECT_TRUE(c.corrupt());
  m.header()->producer = 3;  // back in range: used again
  EXPECT_EQ(c.available(), 3u);
  EXPECT_FALSE(c.corrupt());
}

// The engine polls every ring in every loop: a bad index left in place must be counted once,
// not hundreds of thousands of times a second; going bad again is a new episode.
TEST(SpscRing, CorruptionIsReportedOncePerEpisode) {
  RingMemory m(16);
  RingConsumer c(m.base, 16, 0);
  RingProducer p(m.base, 16, 0);
  m.header()->producer = 1000;
  int reports = 0;
  for (int loop = 0; loop < 100; ++loop) {
    EXPECT_EQ(c.available(), 0u);
    reports += c.newly_corrupt();
  }
  EXPECT_EQ(reports, 1);
  m.header()->producer = 0;
  EXPECT_EQ(c.available(), 0u);
  EXPECT_FALSE(c.newly_corrupt());
  m.header()->producer = 1000;
  EXPECT_EQ(c.available(), 0u);
  EXPECT_TRUE(c.newly_corrupt()) << "a second episode is reported again";
  EXPECT_FALSE(c.newly_corrupt());

  m.header()->consumer = 500;  // the producer's side of the same ring
  reports = 0;
  for (int loop = 0; loop < 100; ++loop) {
    EXPECT_EQ(p.free_space(), 0u);
    reports += p.newly_corrupt();
  }
  EXPECT_EQ(reports, 1);
}

TEST(SpscRing, CorruptConsumerIndexIsReportedNotUsed) {
  RingMemory m(16);
  RingProducer p(m.base, 16, 0);
  for (int i = 0; i < 16; ++i) ASSERT_TRUE(p.enqueue(i));
  m.header()->consumer = 500;  // claims to have consumed more than was produced
  EXPECT_FALSE(p.enqueue(1));
  EXPECT_TRUE(p.corrupt());
}

TEST(SpscRing, OccupancyIsClamped) {
  RingMemory m(16);
  m.header()->producer = 12345;
  EXPECT_EQ(ring_occupancy(m.base, 16), 16u);
}

}  // namespace
}  // namespace machnet::channel
