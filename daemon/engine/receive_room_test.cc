// How the flows of one channel share its receive room (RemoteFlow over real channel memory
// with the shipped geometry: 2048 receive buffers of 4 KiB, 8 MiB): each advertises its
// share, a message reserves all its buffers when it begins, a flow that gets less than a
// full window is listed to hear when room returns, and room goes to waiting messages first
// come, first served. No port: the flows are driven through their FlowIo side directly.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "engine/remote_flow.h"
#include "shm/channel_memory.h"

namespace machnet::engine {
namespace {

struct NoEvents : FlowEvents {
  void flow_established_st(RemoteFlow&) override {}
  void flow_ended_st(RemoteFlow&, transport::FlowError) override {}
};

class ReceiveRoom : public ::testing::Test {
 protected:
  void SetUp() override {
    channel::ChannelParams p;  // shipped: 4096 buffers of 4 KiB, 8 MiB messages
    mem = std::move(shm::ChannelMemory::create(1, p, false).value());
    ch = std::make_unique<EngineChannel>(1, mem.base(), mem.geometry(), -1 /* no doorbell */);
    const auto& g = mem.geometry();
    to_app = std::make_unique<channel::RingConsumer>(ch->view.ring(g.to_app), g.to_app.slots, 0);
    daemon_free = std::make_unique<channel::RingProducer>(ch->view.ring(g.daemon_free), g.daemon_free.slots, 0);
    for (uint16_t port = 1; port <= 3; ++port)
      flows.push_back(std::make_unique<RemoteFlow>(ctx, FlowKey{1, 2, port, 80}, ch.get(), false, port, 100));
  }

  // The application reads every delivered message and gives `limit` buffers back.
  void app_reads(uint32_t limit = ~0u) {
    const auto& g = mem.geometry();
    to_app->advance(to_app->available());  // (the test knows which buffers it holds: all lent)
    std::vector<uint32_t> lent;
    for (uint32_t i = 0; i < g.daemon_pool_count && lent.size() < limit; ++i)
      if (ch->lent[i]) lent.push_back(g.daemon_pool_first + i);
    daemon_free->enqueue_burst(lent.data(), static_cast<uint32_t>(lent.size()));
    while (ch->reclaim_st() > 0) {
    }
  }

  void deliver(RemoteFlow& f, uint32_t len) {
    std::vector<uint8_t> bytes(len, 1);
    f.rx_append(bytes.data(), len);
    f.rx_end();
  }

  shm::ChannelMemory mem;
  std::unique_ptr<EngineChannel> ch;
  std::unique_ptr<channel::RingConsumer> to_app;       // the application's ends
  std::unique_ptr<channel::RingProducer> daemon_free;
  TxRecordPool records;
  NoEvents events;
  transport::TimerWheel wheel{1'000'000};
  transport::FlowParams params;
  HeldBuffers held;
  uint64_t now_us = 1000;
  FlowContext ctx{nullptr, records, events, wheel, params, &held, &now_us};
  std::vector<std::unique_ptr<RemoteFlow>> flows;
};

constexpr uint32_t kRoomPackets = (2048u * 4096u / 3u) / 1424u;  // a third of 8 MiB, in packets

TEST_F(ReceiveRoom, FlowsShareTheFreeBuffersAndAMessageReservesAllOfItsOwn) {
  EXPECT_EQ(ch->rx_flows, 3u);
  for (auto& f : flows) EXPECT_EQ(f->rx_room_packets(), kRoomPackets);
  EXPECT_TRUE(ch->blocked_flows.empty()) << "a full window owes nobody an update";

  ASSERT_TRUE(flows[0]->rx_begin(8u << 20));  // the whole room
  EXPECT_TRUE(ch->stash.empty());
  EXPECT_EQ(flows[1]->rx_room_packets(), 0u);
  ASSERT_EQ(ch->blocked_flows.size(), 1u) << "a flow held back is listed to hear when room returns";
  EXPECT_EQ(ch->blocked_flows[0], flows[1].get());
}

TEST_F(ReceiveRoom, RoomGoesToWaitingMessagesFirstComeFirstServed) {
  ASSERT_TRUE(flows[0]->rx_begin(8u << 20));
  EXPECT_FALSE(flows[1]->rx_begin(4u << 20)) << "no room yet";
  EXPECT_EQ(ch->rx_waiting, 1u);
  deliver(*flows[0], 8u << 20);
  app_reads(100);  // a little room: enough for a small message, not for the waiting one
  EXPECT_EQ(flows[2]->rx_room_packets(), 0u) << "no window is offered while another message waits";
  EXPECT_FALSE(flows[2]->rx_begin(1000)) << "a small message jumped the queue";
  EXPECT_EQ(ch->rx_waiting, 2u);
  app_reads();
  EXPECT_TRUE(flows[1]->rx_begin(4u << 20)) << "the oldest waiter goes first";
  EXPECT_EQ(ch->rx_waiting, 1u);
  EXPECT_TRUE(flows[2]->rx_begin(1000));
  EXPECT_EQ(ch->rx_waiting, 0u);
}

TEST_F(ReceiveRoom, AFlowThatEndsLeavesTheQueueAndItsShare) {
  ASSERT_TRUE(flows[0]->rx_begin(8u << 20));
  EXPECT_FALSE(flows[1]->rx_begin(1000));
  ASSERT_EQ(ch->rx_waiting, 1u);
  ch->room_changed = false;
  flows[1]->on_closed(transport::FlowError::kPeerReset);
  EXPECT_EQ(ch->rx_waiting, 0u);
  EXPECT_EQ(ch->rx_flows, 2u);
  EXPECT_TRUE(ch->room_changed) << "those queued behind it must be woken";
}

// The engine drops a message that stalls while others wait (Engine::
// expire_stalled_reassembly_st) from this list and these times: every open reservation
// is listed once, with when it last moved, and leaves the list however it ends.
TEST_F(ReceiveRoom, OpenReservationsAreListedWithTheirLastProgress) {
  ASSERT_TRUE(flows[0]->rx_begin(10000));
  now_us = 2000;
  ASSERT_TRUE(flows[1]->rx_begin(10000));
  ASSERT_TRUE(flows[2]->rx_begin(10000));
  EXPECT_EQ(ch->reassembling.size(), 3u);
  EXPECT_EQ(flows[0]->rx_progress_us(), 1000u);
  EXPECT_EQ(flows[1]->rx_progress_us(), 2000u);

  now_us = 5000;
  std::vector<uint8_t> part(100, 1);
  flows[0]->rx_append(part.data(), 100);
  EXPECT_EQ(flows[0]->rx_progress_us(), 5000u) << "a segment of the message is progress";

  deliver(*flows[0], 9900);  // the first in the list leaves: the last takes its place
  ASSERT_EQ(ch->reassembling.size(), 2u);
  EXPECT_EQ(flows[0]->rx_progress_us(), 0u);
  flows[1]->rx_discard();
  ASSERT_EQ(ch->reassembling.size(), 1u);
  EXPECT_EQ(ch->reassembling[0], flows[2].get());
  flows[2]->on_closed(transport::FlowError::kStalled);
  flows[2]->rx_discard();  // (the Flow discards its open message when it ends)
  EXPECT_TRUE(ch->reassembling.empty());
  EXPECT_EQ(ch->rx_reserved_slots, 0u);
  EXPECT_EQ(ch->stash.size(), mem.geometry().daemon_pool_count - 3u) << "only the delivered message's buffers are out";
}

// [limits] held_packet_buffers_percent: past the engine's cap a flow may keep no more
// packets (counted), and each one given back makes room for another.
TEST_F(ReceiveRoom, HeldPacketBuffersStopAtTheCap) {
  held.cap = 3;
  RemoteFlow& a = *flows[0];
  RemoteFlow& b = *flows[1];
  EXPECT_TRUE(a.may_hold());
  EXPECT_TRUE(a.may_hold());
  EXPECT_TRUE(b.may_hold());
  EXPECT_FALSE(b.may_hold()) << "the cap is per engine, over all its flows";
  EXPECT_FALSE(a.may_hold());
  EXPECT_EQ(held.count.load(), 3u);
  EXPECT_EQ(held.refused.load(), 2u);
  a.release(nullptr);  // (rte_pktmbuf_free ignores null)
  EXPECT_EQ(held.count.load(), 2u);
  EXPECT_TRUE(b.may_hold());
  EXPECT_EQ(held.refused.load(), 2u);
}

}  // namespace
}  // namespace machnet::engine
