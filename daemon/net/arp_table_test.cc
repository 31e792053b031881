// Covers: ARP resolution bookkeeping — request once, retry on the interval, fail after the
// last retry, learn completes a resolution, stale entries expire, the table stays bounded.
#include "net/arp_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace machnet::net {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const Ipv4Address kA = *Ipv4Address::parse("10.0.0.2");
const Ipv4Address kB = *Ipv4Address::parse("10.0.0.3");
const MacAddress kMacA = *MacAddress::parse("02:00:00:00:00:02");
const MacAddress kMacB = *MacAddress::parse("02:00:00:00:00:03");

TEST(ArpTable, ResolvesWithRetriesThenFails) {
  ArpTable t({.retry_interval_us = 100, .max_requests = 3, .entry_lifetime_us = 1000000, .capacity = 8});
  EXPECT_TRUE(t.resolve(kA, 0));
  EXPECT_FALSE(t.resolve(kA, 10)) << "a resolution under way is not started twice";
  EXPECT_FALSE(t.lookup(kA));
  std::vector<Ipv4Address> retry, failed;
  t.on_timer(50, retry, failed);
  EXPECT_THAT(retry, IsEmpty());
  t.on_timer(100, retry, failed);
  EXPECT_THAT(retry, ElementsAre(kA));  // second request
  retry.clear();
  t.on_timer(200, retry, failed);
  EXPECT_THAT(retry, ElementsAre(kA));  // third request
  retry.clear();
  t.on_timer(299, retry, failed);
  EXPECT_THAT(failed, IsEmpty());
  t.on_timer(300, retry, failed);
  EXPECT_THAT(retry, IsEmpty());
  EXPECT_THAT(failed, ElementsAre(kA));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_TRUE(t.resolve(kA, 400)) << "a failed address may be tried again";
}

TEST(ArpTable, RequestsForAsLongAsAConnectWaits) {
  // The shipped connect_timeout_ms (2000): a request every 200 ms until the connect would
  // give up, not 5 requests and a failure after 1 s.
  ArpTable t(ArpTimers::for_connect_timeout(2'000'000));
  ASSERT_TRUE(t.resolve(kA, 0));
  std::vector<Ipv4Address> retry, failed;
  size_t requests = 1;
  for (uint64_t now = 10'000; now < 2'000'000; now += 10'000) {  // the engine's 10 ms tick
    t.on_timer(now, retry, failed);
    requests += retry.size();
    retry.clear();
    ASSERT_THAT(failed, IsEmpty()) << "gave up at " << now << " us, before the connect would";
  }
  EXPECT_EQ(requests, 10u);
  t.on_timer(2'000'000, retry, failed);
  EXPECT_THAT(failed, ElementsAre(kA));
  EXPECT_EQ(ArpTimers::for_connect_timeout(10'000).max_requests, 1u) << "the shortest connect still asks once";
}

TEST(ArpTable, ALongConnectAsksOnceASecondAfterTheFirstTen) {
  // connect_timeout_ms = 10000: ten requests 200 ms apart, then one a second (no broadcast
  // every 200 ms for minutes), and the resolution fails when the connect would.
  ArpTable t(ArpTimers::for_connect_timeout(10'000'000));
  ASSERT_TRUE(t.resolve(kA, 0));
  std::vector<uint64_t> sent{0};
  std::vector<Ipv4Address> retry, failed;
  uint64_t failed_at = 0;
  for (uint64_t now = 10'000; now <= 12'000'000 && !failed_at; now += 10'000) {
    t.on_timer(now, retry, failed);
    if (!retry.empty()) sent.push_back(now);
    retry.clear();
    if (!failed.empty()) failed_at = now;
  }
  ASSERT_EQ(sent.size(), 18u);
  EXPECT_EQ(sent[9], 1'800'000u);
  EXPECT_EQ(sent[10], 2'800'000u);
  EXPECT_EQ(sent[17], 9'800'000u);
  EXPECT_EQ(failed_at, 10'000'000u);
}

TEST(ArpTable, LearnCompletesAResolution) {
  ArpTable t;
  t.resolve(kA, 0);
  EXPECT_TRUE(t.learn(kA, kMacA, 5));
  ASSERT_TRUE(t.lookup(kA));
  EXPECT_EQ(*t.lookup(kA), kMacA);
  EXPECT_FALSE(t.learn(kA, kMacA, 6)) << "a refresh completes nothing";
  EXPECT_FALSE(t.learn(kB, kMacA, 6)) << "a request to us: recorded, nothing waited";
  EXPECT_TRUE(t.lookup(kB));
}

TEST(ArpTable, UnsolicitedRepliesPlantNothing) {
  ArpTable t;
  EXPECT_FALSE(t.learn(kA, kMacA, 5, /*may_add=*/false));
  EXPECT_FALSE(t.lookup(kA)) << "a reply nobody asked for";
  EXPECT_EQ(t.size(), 0u);
  t.resolve(kA, 10);
  EXPECT_TRUE(t.learn(kA, kMacA, 11, false)) << "the answer to our question";
  EXPECT_TRUE(t.lookup(kA));
  EXPECT_FALSE(t.learn(kA, kMacB, 12, false)) << "a known neighbour is refreshed";
  EXPECT_EQ(*t.lookup(kA), kMacB);
}

TEST(ArpTable, ResolvedEntriesExpire) {
  ArpTable t({.retry_interval_us = 100, .max_requests = 3, .entry_lifetime_us = 1000, .capacity = 8});
  t.learn(kA, kMacA, 0);
  std::vector<Ipv4Address> retry, failed;
  t.on_timer(1000, retry, failed);
  EXPECT_TRUE(t.lookup(kA));
  t.on_timer(1001, retry, failed);
  EXPECT_FALSE(t.lookup(kA));
  EXPECT_THAT(failed, IsEmpty());
}

TEST(ArpTable, BoundedEvictsTheOldestResolved) {
  ArpTable t({.retry_interval_us = 100, .max_requests = 3, .entry_lifetime_us = 1000000, .capacity = 4});
  for (uint32_t i = 0; i < 4; ++i) t.learn(Ipv4Address{0x0a000010 + i}, kMacA, i);
  EXPECT_EQ(t.evicted(), 0u);
  t.learn(Ipv4Address{0x0a000020}, kMacA, 10);
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(t.evicted(), 1u) << "hitting the cap is counted";
  EXPECT_FALSE(t.lookup(Ipv4Address{0x0a000010})) << "the oldest went";
  EXPECT_TRUE(t.lookup(Ipv4Address{0x0a000011}));
  const auto view = t.entries(20);
  ASSERT_EQ(view.size(), 4u);
  EXPECT_EQ(view.front().ip, Ipv4Address{0x0a000011});
  EXPECT_EQ(view.front().age_us, 19u);
}

}  // namespace
}  // namespace machnet::net
