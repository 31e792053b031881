// The software Toeplitz hash the engines use to pick source ports agrees with DPDK's
// reference rte_softrss (as a NIC computes it) for many 4-tuples and queue counts, and a
// port whose replies reach any given queue is quick to find.
#include "engine/rss.h"

#include <gtest/gtest.h>
#include <rte_thash.h>

#include <random>

namespace machnet::engine {
namespace {

std::vector<uint16_t> reta(uint32_t size, uint16_t queues) {
  std::vector<uint16_t> r(size);
  for (uint32_t i = 0; i < size; ++i) r[i] = static_cast<uint16_t>(i % queues);
  return r;
}

TEST(RssSteering, AgreesWithRteSoftrss) {
  std::mt19937 rng(7);
  for (uint32_t reta_size : {64u, 128u, 512u}) {
    for (uint16_t queues : {1, 2, 3, 4, 8, 16}) {
      RssSteering rss(reta(reta_size, queues));
      for (int i = 0; i < 2000; ++i) {
        rte_ipv4_tuple t{};
        t.src_addr = rng();
        t.dst_addr = rng();
        t.sport = static_cast<uint16_t>(rng());
        t.dport = static_cast<uint16_t>(rng());
        const uint32_t hash = rte_softrss(reinterpret_cast<uint32_t*>(&t), RTE_THASH_V4_L4_LEN, RssSteering::kKey.data());
        const uint16_t want = static_cast<uint16_t>((hash & (reta_size - 1)) % queues);
        ASSERT_EQ(rss.queue_of(t.src_addr, t.dst_addr, t.sport, t.dport), want)
            << "reta " << reta_size << " queues " << queues << " tuple " << i;
      }
    }
  }
}

TEST(RssSteering, KnownVectorFromTheRssSpecification) {
  // Microsoft's RSS verification suite, IPv4 with TCP/UDP ports: 66.9.149.187:2794 ->
  // 161.142.100.80:1766 hashes to 0x51ccc178 with this key.
  rte_ipv4_tuple t{};
  t.src_addr = (66u << 24) | (9u << 16) | (149u << 8) | 187u;
  t.dst_addr = (161u << 24) | (142u << 16) | (100u << 8) | 80u;
  t.sport = 2794;
  t.dport = 1766;
  EXPECT_EQ(rte_softrss(reinterpret_cast<uint32_t*>(&t), RTE_THASH_V4_L4_LEN, RssSteering::kKey.data()), 0x51ccc178u);
  RssSteering rss(reta(128, 128));  // one queue per entry: the queue is the hash's low bits
  EXPECT_EQ(rss.queue_of(t.src_addr, t.dst_addr, t.sport, t.dport), 0x51ccc178u & 127);
}

TEST(RssSteering, EveryQueueHasSourcePortsWhoseRepliesReachIt) {
  for (uint16_t queues : {2, 4, 8}) {
    RssSteering rss(reta(128, queues));
    for (uint16_t q = 0; q < queues; ++q) {
      int found = 0;
      for (uint32_t p = 49152; p < 49152u + 64u * queues; ++p)
        found += rss.replies_reach(q, 0x0a000001, static_cast<uint16_t>(p), 0x0a000002, 80);
      // About one port in `queues`; far fewer would mean a biased search.
      EXPECT_GT(found, 32) << "queue " << q << " of " << queues;
    }
  }
}

}  // namespace
}  // namespace machnet::engine
