// The flow table: local and remote entries under one key space, lookups either way round,
// removal, listing by owner. Remote entries are real RemoteFlows without a port.
#include "engine/flow_table.h"

#include <gtest/gtest.h>

#include <set>

#include "shm/channel_memory.h"
#include "transport/timer_wheel.h"

namespace machnet::engine {
namespace {

struct NoEvents : FlowEvents {
  void flow_established_st(RemoteFlow&) override {}
  void flow_ended_st(RemoteFlow&, transport::FlowError) override {}
};

class FlowTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    channel::ChannelParams p;
    p.buffers = 256;
    p.max_message_bytes = 1 << 20;
    a_mem = std::move(shm::ChannelMemory::create(1, p, false).value());
    b_mem = std::move(shm::ChannelMemory::create(2, p, false).value());
    a_ch = std::make_unique<EngineChannel>(1, a_mem.base(), a_mem.geometry(), -1 /* no doorbell */);
    b_ch = std::make_unique<EngineChannel>(2, b_mem.base(), b_mem.geometry(), -1 /* no doorbell */);
    a = a_ch.get();
    b = b_ch.get();
  }
  std::unique_ptr<RemoteFlow> remote(const FlowKey& key, EngineChannel* owner, bool client) {
    return std::make_unique<RemoteFlow>(ctx, key, owner, client, 7, 1000);
  }

  transport::FlowParams params;
  transport::TimerWheel wheel{0};
  TxRecordPool records;
  NoEvents events;
  FlowContext ctx{nullptr, records, events, wheel, params};
  shm::ChannelMemory a_mem, b_mem;
  std::unique_ptr<EngineChannel> a_ch, b_ch;
  EngineChannel* a = nullptr;
  EngineChannel* b = nullptr;
  const FlowKey ab{0x0a000001, 0x0a000001, 49152, 80};
};

TEST_F(FlowTableTest, LocalEndsNameEachOther) {
  FlowTable t;
  t.add_local(ab, a, b, true);
  t.add_local(ab.reversed(), b, a, false);
  ASSERT_NE(t.find(ab), nullptr);
  EXPECT_FALSE(t.find(ab)->is_remote());
  EXPECT_EQ(t.find(ab)->owner(), a);
  EXPECT_EQ(t.find(ab)->local_peer, b);
  EXPECT_TRUE(t.find(ab)->connector());
  EXPECT_EQ(t.find(ab.reversed())->owner(), b);
  EXPECT_FALSE(t.find(ab.reversed())->connector());
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.remote_count(), 0u);
}

TEST_F(FlowTableTest, FindOwnedTakesEitherDirectionButOnlyTheOwner) {
  FlowTable t;
  t.add_local(ab, a, b, true);
  t.add_local(ab.reversed(), b, a, false);
  EXPECT_EQ(t.find_owned(ab, a), t.find(ab));
  // The app may name the flow as it received it (src = the peer).
  EXPECT_EQ(t.find_owned(ab.reversed(), a), t.find(ab));
  EXPECT_EQ(t.find_owned(ab, b), t.find(ab.reversed()));
  EXPECT_EQ(t.find_owned(ab, nullptr), nullptr);
  EXPECT_EQ(t.find_owned(FlowKey{1, 2, 3, 4}, a), nullptr);
}

TEST_F(FlowTableTest, RemoteEntriesAreCountedAndHandedBackOnErase) {
  FlowTable t;
  const FlowKey k1{0x0a000001, 0x0a000002, 49152, 80}, k2{0x0a000001, 0x0a000003, 49153, 80};
  RemoteFlow& f1 = t.add_remote(remote(k1, a, true));
  t.add_remote(remote(k2, b, false));
  t.add_local(ab, a, b, true);
  EXPECT_EQ(t.remote_count(), 2u);
  EXPECT_TRUE(t.find(k1)->is_remote());
  EXPECT_EQ(t.find(k1)->remote.get(), &f1);
  EXPECT_EQ(t.find(k1)->owner(), a);
  EXPECT_TRUE(t.find(k1)->connector());
  EXPECT_FALSE(t.find(k2)->connector());
  int visited = 0;
  t.for_each_remote([&](RemoteFlow&) { ++visited; });
  EXPECT_EQ(visited, 2);

  std::unique_ptr<RemoteFlow> gone = t.erase(k1);
  EXPECT_EQ(gone.get(), &f1);
  EXPECT_EQ(t.remote_count(), 1u);
  EXPECT_EQ(t.find(k1), nullptr);
  EXPECT_EQ(t.erase(ab), nullptr);  // a local entry has no flow to hand back
  EXPECT_EQ(t.erase(ab), nullptr);  // nor a missing one
  EXPECT_EQ(t.size(), 1u);
}

TEST_F(FlowTableTest, ReplacingARemoteEntryKeepsTheCountRight) {
  FlowTable t;
  const FlowKey k{0x0a000001, 0x0a000002, 49152, 80};
  t.add_remote(remote(k, a, true));
  t.add_remote(remote(k, a, true));
  EXPECT_EQ(t.remote_count(), 1u);
  EXPECT_EQ(t.size(), 1u);
}

TEST_F(FlowTableTest, KeysOwnedByListsLocalAndRemoteEntriesOfOneChannel) {
  FlowTable t;
  const FlowKey k1{0x0a000001, 0x0a000002, 49152, 80};
  t.add_remote(remote(k1, a, true));
  t.add_local(ab, a, b, true);
  t.add_local(ab.reversed(), b, a, false);
  const auto keys = t.keys_owned_by(a);
  std::set<std::pair<uint32_t, uint16_t>> got;
  for (const auto& k : keys) got.insert({k.dst_ip, k.src_port});
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_TRUE(got.contains({k1.dst_ip, k1.src_port}));
  EXPECT_TRUE(got.contains({ab.dst_ip, ab.src_port}));
  EXPECT_EQ(t.keys_owned_by(b).size(), 1u);
}

// [limits] max_flows_per_remote_ip counts remote flows per peer address, as they come,
// are replaced and go.
TEST_F(FlowTableTest, CountsRemoteFlowsPerPeerAddress) {
  FlowTable t;
  const uint32_t peer = 0x0a000002, other = 0x0a000003;
  for (uint16_t port = 1; port <= 3; ++port) t.add_remote(remote(FlowKey{0x0a000001, peer, 80, port}, a, false));
  t.add_remote(remote(FlowKey{0x0a000001, other, 80, 1}, a, false));
  EXPECT_EQ(t.remote_count_for(peer), 3u);
  EXPECT_EQ(t.remote_count_for(other), 1u);
  t.add_remote(remote(FlowKey{0x0a000001, peer, 80, 2}, a, false));  // replaces: still 3
  EXPECT_EQ(t.remote_count_for(peer), 3u);
  EXPECT_EQ(t.remote_count(), 4u);
  t.erase(FlowKey{0x0a000001, peer, 80, 1});
  t.erase(FlowKey{0x0a000001, other, 80, 1});
  EXPECT_EQ(t.remote_count_for(peer), 2u);
  EXPECT_EQ(t.remote_count_for(other), 0u);
}

// The table's hash is keyed: 64 forged (address, port) pairs that share a bucket under one
// secret (what an attacker who knew the hash would send) spread out under another.
TEST(FlowKeyHash, FlowsChosenToCollideUnderOneSecretSpreadUnderAnother) {
  constexpr uint32_t kBuckets = 1024;
  const FlowKeyHash known{1}, secret{0x5eed1234};
  std::vector<FlowKey> aimed;
  for (uint32_t n = 0; aimed.size() < 64 && n < 10'000'000; ++n) {
    const FlowKey k{0x0a000001, 0x0a4d0000 + (n >> 16), 7000, static_cast<uint16_t>(n)};
    if (known(k) % kBuckets == 0) aimed.push_back(k);
  }
  ASSERT_EQ(aimed.size(), 64u);
  std::set<size_t> buckets;
  for (const FlowKey& k : aimed) buckets.insert(secret(k) % kBuckets);
  EXPECT_GE(buckets.size(), 48u) << "the secret does not change where flows land";
  EXPECT_EQ(FlowKeyHash{}.seed, kFlowHashSecret);
  const RemoteIpHash ip_known{1}, ip_secret{0x5eed1234};
  EXPECT_NE(ip_known(0x0a4d0001), ip_secret(0x0a4d0001));
}

}  // namespace
}  // namespace machnet::engine
