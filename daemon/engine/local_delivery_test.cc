// Messages through real channel memory: the library's chain writer, the daemon's checker,
// the engine's copy into a second channel and the library's reader, for the sizes at the
// edges (0, 1, buffer_size-1, buffer_size, buffer_size+1, 8 MiB) and one too many bytes.
// The engine runs without its thread (poll_once_st). Not covered: the socket (integration).
#include <gtest/gtest.h>

#include <cerrno>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "channel/message_chain.h"
#include "engine/engine.h"
#include "shm/chain_validator.h"
#include "shm/channel_memory.h"

namespace machnet::engine {
namespace {

using namespace machnet::channel;  // the library's side of the channel
using shm::ChannelMemory;

constexpr uint32_t kIp = 0x7f000001;

// What the library does with one channel, minus the socket.
struct AppSide {
  explicit AppSide(ChannelMemory& m)
      : view(m.base(), m.geometry()),
        to_daemon(view.ring(m.geometry().to_daemon), m.geometry().to_daemon.slots, 0),
        to_app(view.ring(m.geometry().to_app), m.geometry().to_app.slots, 0),
        app_free(view.ring(m.geometry().app_free), m.geometry().app_free.slots, 0),
        daemon_free(view.ring(m.geometry().daemon_free), m.geometry().daemon_free.slots, 0) {}

  bool send(const std::vector<uint8_t>& msg, const engine::FlowKey& f) {
    const uint32_t need = buffers_for(msg.size(), view.geometry().buffer_size);
    std::vector<uint32_t> idx(need);
    if (app_free.dequeue_burst(idx.data(), need) != need) return false;
    IoPiece piece{const_cast<uint8_t*>(msg.data()), msg.size()};
    IoCursor src{&piece, 1};
    const uint32_t head = fill_chain(view, idx.data(), src, static_cast<uint32_t>(msg.size()), 7, f.src_ip, f.dst_ip,
                                     f.src_port, f.dst_port);
    return to_daemon.enqueue(head);
  }

  bool recv(std::vector<uint8_t>* msg, BufferDesc* head) {
    if (!to_app.available()) return false;
    std::vector<uint32_t> idx(view.geometry().max_chain);
    uint32_t n = 0;
    EXPECT_TRUE(walk_chain(view, to_app.peek(0), [this](uint32_t i) { return view.in_daemon_pool(i); }, idx.data(), &n,
                           head));
    msg->assign(head->msg_len, 0);
    IoPiece piece{msg->data(), msg->size()};
    IoCursor dst{&piece, 1};
    copy_chain_out(view, idx.data(), n, dst);
    runs = 0;
    for (uint32_t k = 0; k < n; k += adjacent_run(idx.data(), k, n)) ++runs;
    to_app.advance(1);
    daemon_free.enqueue_burst(idx.data(), n);
    return true;
  }

  ChannelView view;
  RingProducer to_daemon;
  RingConsumer to_app;
  RingConsumer app_free;
  RingProducer daemon_free;
  uint32_t runs = 0;  // of adjacent buffers in the last message received
};

class ChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ChannelParams p;  // the shipped defaults: 4 KiB buffers, 4096 of them, 8 MiB messages
    a_mem = std::move(ChannelMemory::create(1, p, false).value());
    b_mem = std::move(ChannelMemory::create(2, p, false).value());
    a_ch = std::make_unique<engine::EngineChannel>(1, a_mem.base(), a_mem.geometry(), -1 /* no doorbell */);
    b_ch = std::make_unique<engine::EngineChannel>(2, b_mem.base(), b_mem.geometry(), -1 /* no doorbell */);
    run(engine::Command::Kind::kAddChannel, a_ch.get());
    run(engine::Command::Kind::kAddChannel, b_ch.get());
    engine::Command listen{.kind = engine::Command::Kind::kListen, .channel = b_ch.get(), .local_ip = kIp, .local_port = 80};
    eng.execute(listen);
    ASSERT_EQ(listen.error, 0);
    engine::Command connect{.kind = engine::Command::Kind::kConnect, .channel = a_ch.get(), .local_ip = kIp,
                            .remote_ip = kIp, .remote_port = 80};
    eng.execute(connect);
    ASSERT_EQ(connect.error, 0);
    flow = {connect.flow.src_ip, connect.flow.dst_ip, connect.flow.src_port, connect.flow.dst_port};
  }
  void run(engine::Command::Kind kind, engine::EngineChannel* ch) {
    engine::Command c{.kind = kind, .channel = ch};
    eng.execute(c);
  }
  uint64_t drops(engine::EngineChannel& ch, uint32_t reason) { return ch.counters.drops[reason].load(); }

  EngineConfig cfg;
  engine::EngineShared shared;
  engine::Engine eng{0, -1, shared, cfg, TransportConfig{}, 8u << 20, kIp};
  ChannelMemory a_mem, b_mem;
  std::unique_ptr<engine::EngineChannel> a_ch, b_ch;
  engine::FlowKey flow{};
};

TEST_F(ChainTest, EdgeSizesArriveByteExact) {
  AppSide a(a_mem), b(b_mem);
  const uint32_t bs = a_mem.geometry().buffer_size;
  std::mt19937 rng(42);
  for (uint32_t size : {0u, 1u, bs - 1, bs, bs + 1, 3 * bs + 5, 8u << 20}) {
    SCOPED_TRACE(size);
    std::vector<uint8_t> msg(size);
    for (auto& byte : msg) byte = static_cast<uint8_t>(rng());
    ASSERT_TRUE(a.send(msg, flow));
    eng.poll_once_st();
    std::vector<uint8_t> got;
    BufferDesc head{};
    ASSERT_TRUE(b.recv(&got, &head));
    EXPECT_EQ(got, msg);
    // The daemon hands out its buffers in order: a large message is one block to copy.
    if (size == (8u << 20)) {
      EXPECT_EQ(b.runs, 1u);
    }
    EXPECT_EQ(head.flags, 7);
    EXPECT_EQ(head.src_port, flow.src_port);  // the flow as it travelled
    EXPECT_EQ(head.dst_port, flow.dst_port);
    while (eng.poll_once_st()) {  // takes b's buffers back, a burst at a time
    }
  }
  EXPECT_EQ(a_ch->counters.msgs_in.load(), 7u);
  for (uint32_t r = 0; r < kDropReasonCount; ++r) EXPECT_EQ(drops(*a_ch, r), 0u) << drop_reason_name(r);
  // Every buffer found its way home: the app can fill a whole pool again.
  EXPECT_EQ(b_ch->stash.size(), b_mem.geometry().daemon_pool_count);
}

// Graceful stop on a local flow (graceful_stop.cc): what the app queued before the stop is
// still copied, both ends then hear ENETDOWN, the channels say the daemon stops (so the
// library refuses sends), and with nothing in flight the engine is done in one iteration.
TEST_F(ChainTest, StopDeliversWhatWasQueuedThenEndsBothEnds) {
  AppSide a(a_mem), b(b_mem);
  const std::vector<uint8_t> msg(100, 9);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.send(msg, flow));
  eng.begin_stop(std::chrono::milliseconds(5000));
  eng.poll_once_st();
  EXPECT_TRUE(eng.stop_drained());
  EXPECT_EQ(a.view.header()->daemon_stopping, 1u);
  EXPECT_EQ(b.view.header()->daemon_stopping, 1u);
  std::vector<uint8_t> got;
  BufferDesc head{};
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(b.recv(&got, &head)) << i;
    EXPECT_EQ(got, msg);
  }
  for (AppSide* side : {&a, &b}) {
    ASSERT_TRUE(side->recv(&got, &head));
    EXPECT_TRUE(head.flags & kMsgFlowEnded);
    EXPECT_EQ(head.reserved, ENETDOWN);
  }
  // Sent after the stop was done (the library would have refused it): not taken.
  ASSERT_TRUE(a.send(msg, flow));
  eng.poll_once_st();
  EXPECT_FALSE(b.recv(&got, &head));
}

TEST_F(ChainTest, OversizeIsRefusedAndBuffersComeBack) {
  AppSide a(a_mem);
  const auto& g = a_mem.geometry();
  EXPECT_EQ(g.max_message_bytes, 8u << 20);
  // The writer would need one more buffer than a pool holds, so forge the length instead.
  std::vector<uint8_t> msg(100, 1);
  ASSERT_TRUE(a.send(msg, flow));
  // Forge the head's length through the ring slot the app just published.
  RingConsumer peek(a.view.ring(g.to_daemon), g.to_daemon.slots, 0);
  ASSERT_EQ(peek.available(), 1u);
  a.view.desc(peek.peek(0))->msg_len = (8u << 20) + 1;
  eng.poll_once_st();
  EXPECT_EQ(drops(*a_ch, kDropBadLength), 1u);
  EXPECT_EQ(a_ch->counters.msgs_in.load(), 0u);
  // The one buffer went back to the app's free ring: a full pool is free again.
  std::vector<uint32_t> all(g.app_pool_count);
  EXPECT_EQ(a.app_free.dequeue_burst(all.data(), g.app_pool_count), g.app_pool_count);
}


TEST_F(ChainTest, FullReceiverHoldsThenDropsAfterTheLimitAndPeerGoneIsCounted) {
  AppSide a(a_mem), b(b_mem);
  const uint32_t slots = b_mem.geometry().to_app.slots;
  std::vector<uint8_t> one{42};
  // Fill the receiver's ring without it reading.
  for (uint32_t i = 0; i < slots; ++i) ASSERT_TRUE(a.send(one, flow));
  while (eng.poll_once_st()) {
  }
  EXPECT_EQ(a_ch->counters.msgs_in.load(), slots);
  // One more waits at the head of the sender's ring: held, not lost, not counted as a drop.
  ASSERT_TRUE(a.send(one, flow));
  eng.poll_once_st();
  EXPECT_EQ(a_ch->counters.msgs_in.load(), slots);
  EXPECT_GT(a_ch->counters.held.load(), 0u);
  EXPECT_EQ(drops(*a_ch, kDropReceiverFull), 0u);
  // The receiver reads one: the held message goes through.
  std::vector<uint8_t> got;
  BufferDesc head{};
  ASSERT_TRUE(b.recv(&got, &head));
  eng.poll_once_st();
  EXPECT_EQ(a_ch->counters.msgs_in.load(), slots + 1);
  // A receiver that stops reading: after the hold limit the message is dropped and counted.
  ASSERT_TRUE(a.send(one, flow));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (drops(*a_ch, kDropReceiverFull) == 0 && std::chrono::steady_clock::now() < deadline) {
    eng.poll_once_st();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(drops(*a_ch, kDropReceiverFull), 1u);
  EXPECT_EQ(a_ch->counters.msgs_in.load(), slots + 1);
  // The receiver goes away: the sender's messages on that flow count as peer_gone.
  run(engine::Command::Kind::kRemoveChannel, b_ch.get());
  ASSERT_TRUE(a.send(one, flow));
  eng.poll_once_st();
  EXPECT_EQ(drops(*a_ch, kDropPeerGone), 1u);
}

TEST_F(ChainTest, CorruptRingIndicesAreCountedAndOtherChannelsKeepWorking) {
  AppSide a(a_mem), b(b_mem);
  // b scribbles its own rings' indices; a keeps sending to b's listener... b cannot take
  // deliveries (its to_app ring is corrupt), so a's messages are dropped, not held forever.
  reinterpret_cast<RingHeader*>(b.view.ring(b_mem.geometry().to_app))->consumer = 0x12345678;
  reinterpret_cast<RingHeader*>(b.view.ring(b_mem.geometry().to_daemon))->producer = 0x7fffffff;
  reinterpret_cast<RingHeader*>(b.view.ring(b_mem.geometry().daemon_free))->producer = 0x7fffffff;
  std::vector<uint8_t> msg(100, 1);
  ASSERT_TRUE(a.send(msg, flow));
  eng.poll_once_st();
  EXPECT_EQ(drops(*b_ch, kDropBadRingIndex), 3u) << "three rings, each counted once";
  EXPECT_EQ(drops(*a_ch, kDropReceiverFull), 1u);
  EXPECT_EQ(a_ch->counters.held.load(), 0u);
  // The bad indices stay: every loop reads those rings again, but an index left bad is one
  // event (it was counted once per loop, hundreds of thousands a second). Each message it
  // costs is still counted.
  ASSERT_TRUE(a.send(msg, flow));
  ASSERT_TRUE(a.send(msg, flow));
  for (int loop = 0; loop < 100; ++loop) eng.poll_once_st();
  EXPECT_EQ(drops(*b_ch, kDropBadRingIndex), 3u);
  EXPECT_EQ(drops(*a_ch, kDropReceiverFull), 3u);
}

}  // namespace
}  // namespace machnet::engine
