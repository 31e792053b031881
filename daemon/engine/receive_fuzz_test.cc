// A seeded fuzzer of the engine's receive side (issue 15): many flows into one channel of
// real channel memory, each fed a mix of well-formed messages, reordered, duplicated and
// lost segments, forged flags (FIRST, LAST, FIN, RST, SYN), lengths past the limit, and
// resets; an application that reads at its own pace and gives back buffers together with
// garbage (indices out of range, twice, never lent); flows aborted as a stall would be.
// After every step, what the channel's receive pool holds must add up: every buffer is in
// the engine's stash, reserved by exactly one reassembly, or lent to the application;
// promised ring slots match the open reassemblies; held packets never pass the cap; and when
// every flow has ended nothing is left reserved or held. No port: the flows are driven
// through their Flow and FlowIo sides, as the engine would.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <deque>
#include <memory>
#include <random>
#include <vector>

#include "engine/remote_flow.h"
#include "shm/channel_memory.h"

namespace machnet::engine {
namespace {

struct NoEvents : FlowEvents {
  void flow_established_st(RemoteFlow&) override {}
  void flow_ended_st(RemoteFlow&, transport::FlowError) override {}
};

constexpr uint32_t kFlows = 24;
constexpr uint32_t kHeldCap = 120;
constexpr uint64_t kStallLimitUs = 200'000;  // as [limits] reassembly_timeout_ms
constexpr uint32_t kPeerIsn = 0xffffff00u;  // sequence numbers wrap within the run

// One peer: sends messages as a real one would (segmented, everything not yet received
// sent again), then the fuzzer bends what goes on the wire.
struct Segment {
  uint32_t seq, msg_len, len;
  uint8_t flags;
};
struct Peer {
  uint32_t next_seq = kPeerIsn;
  std::deque<Segment> segs;  // not yet received (seq >= the flow's rcv_nxt), in order
  size_t unsent = 0;         // segs[unsent] is the first never sent
};

class ReceiveFuzz : public ::testing::TestWithParam<uint32_t> {
 protected:
  void SetUp() override {
    channel::ChannelParams p;
    p.buffer_size = 512;
    p.buffers = 512;  // 256 receive buffers: messages compete for them
    p.max_message_bytes = 32 << 10;
    p.ring_slots = 64;
    mem = std::move(shm::ChannelMemory::create(1, p, false).value());
    ch = std::make_unique<EngineChannel>(1, mem.base(), mem.geometry(), -1);
    const auto& g = mem.geometry();
    to_app = std::make_unique<channel::RingConsumer>(ch->view.ring(g.to_app), g.to_app.slots, 0);
    daemon_free = std::make_unique<channel::RingProducer>(ch->view.ring(g.daemon_free), g.daemon_free.slots, 0);
    params.mss = 256;
    params.max_message_bytes = p.max_message_bytes;
    held.cap = kHeldCap;
    for (uint32_t i = 0; i < kFlows; ++i) open_flow(i);
  }

  void open_flow(uint32_t i) {
    if (flows.size() <= i) flows.resize(i + 1), peers.resize(i + 1);
    flows[i] = std::make_unique<RemoteFlow>(ctx, FlowKey{1, 2, static_cast<uint16_t>(1000 + i), 80}, ch.get(), false,
                                            i + 1, 77);
    peers[i] = Peer{};
    ++opened;
    net::MachnetHeader syn;
    syn.flags = net::kFlagSyn;
    syn.conn_id = i + 1;
    syn.seq = kPeerIsn;
    syn.window = 64;
    flows[i]->flow.accept(syn, now_us);
  }

  // Feeds one packet to flow i; its payload lives as long as the test (a held packet's
  // bytes are read when its turn comes).
  void feed(uint32_t i, net::MachnetHeader h, uint32_t len) {
    h.conn_id = i + 1;
    h.tsval = static_cast<uint32_t>(now_us);
    payloads.emplace_back(len, static_cast<uint8_t>(h.seq));
    flows[i]->flow.receive(h, payloads.back().data(), len, nullptr, now_us);
  }

  // The peer's next message, segmented; some are longer than the channel allows.
  void new_message(uint32_t i) {
    Peer& p = peers[i];
    const uint32_t max = rng() % 8 == 0 ? (64u << 10) : (rng() % 2 ? 2048u : (32u << 10));
    const uint32_t len = rng() % max;
    const uint32_t n = std::max<uint32_t>(1, (len + params.mss - 1) / params.mss);
    for (uint32_t k = 0; k < n; ++k) {
      const uint8_t flags = net::kFlagData | (k == 0 ? net::kFlagFirst : 0) | (k + 1 == n ? net::kFlagLast : 0);
      p.segs.push_back({p.next_seq + k, len, k + 1 < n ? params.mss : len - k * params.mss, flags});
    }
    p.next_seq += n;
  }

  void send_some(uint32_t i) {
    Peer& p = peers[i];
    const uint32_t rcv_nxt = flows[i]->flow.rcv_nxt();
    while (!p.segs.empty() && static_cast<int32_t>(p.segs.front().seq - rcv_nxt) < 0) {
      p.segs.pop_front();
      if (p.unsent > 0) --p.unsent;
    }
    if (p.unsent == p.segs.size() && p.segs.size() < 100) new_message(i);
    // The next new segment, or one sent before and not received (lost, refused, or never
    // acknowledged): the oldest when everything went out, any of them now and then.
    size_t k = p.unsent;
    if (k == p.segs.size() || rng() % 8 == 0) k = rng() % 2 ? 0 : rng() % p.segs.size();
    Segment s = p.segs[k];
    if (k == p.unsent && rng() % 16 != 0) ++p.unsent;  // else: lost on the way, sent again
    net::MachnetHeader h;
    h.flags = s.flags;
    h.seq = s.seq;
    h.msg_len = s.msg_len;
    h.window = 64;
    switch (rng() % 128) {  // mostly as sent; now and then bent
      case 0: h.flags ^= net::kFlagFirst; break;                        // a FIRST mid-message, or none
      case 1: h.flags ^= net::kFlagLast; break;
      case 2: h.msg_len = rng(); break;                                  // a length past the limit
      case 3: h.seq += rng() % 300 - 150; break;                         // out of the window
      case 4:                                                            // a FIN (maybe early)
        if (rng() % 8 == 0) h.flags = net::kFlagFin, h.seq = p.next_seq;
        break;
      case 5:                                                            // anything
        if (rng() % 4 == 0) h.flags = static_cast<uint8_t>(rng());
        break;
      default: break;
    }
    feed(i, h, s.len);
  }

  // The application reads some messages and gives their buffers back, with garbage mixed in.
  void app_reads() {
    const auto& g = mem.geometry();
    const uint32_t n = rng() % (to_app->available() + 1);
    std::vector<uint32_t> back;
    for (uint32_t m = 0; m < n; ++m) {
      uint32_t b = to_app->peek(m);
      for (uint32_t hops = 0; b != channel::kNoBuffer && ch->view.in_daemon_pool(b) && hops < g.max_chain; ++hops) {
        back.push_back(b);
        b = ch->view.desc(b)->next;
      }
    }
    to_app->advance(n);
    for (int k = rng() % 3; k > 0; --k) back.push_back(rng() % (g.buffer_count + 8));  // garbage
    if (!back.empty() && rng() % 4 == 0) back.push_back(back[0]);                      // twice
    std::shuffle(back.begin(), back.end(), rng);
    daemon_free->enqueue_burst(back.data(), static_cast<uint32_t>(back.size()));
    while (ch->reclaim_st() > 0) {
    }
  }

  void check() {
    const auto& g = mem.geometry();
    uint64_t reserved = 0, open = 0;
    for (auto& f : flows) {
      reserved += f->rx_reserved_buffers();
      open += f->rx_progress_us() != 0;
    }
    const uint64_t lent = std::count(ch->lent.begin(), ch->lent.end(), 1);
    ASSERT_EQ(ch->stash.size() + reserved + lent, g.daemon_pool_count)
        << "stash " << ch->stash.size() << " reserved " << reserved << " lent " << lent;
    ASSERT_EQ(ch->rx_reserved_slots, open);
    ASSERT_EQ(ch->reassembling.size(), open);
    ASSERT_LE(held.count.load(), kHeldCap);
  }

  shm::ChannelMemory mem;
  std::unique_ptr<EngineChannel> ch;
  std::unique_ptr<channel::RingConsumer> to_app;
  std::unique_ptr<channel::RingProducer> daemon_free;
  TxRecordPool records;
  NoEvents events;
  uint64_t now_us = 1'000'000;
  transport::TimerWheel wheel{now_us};
  transport::FlowParams params;
  HeldBuffers held;
  FlowContext ctx{nullptr, records, events, wheel, params, &held, &now_us};
  std::vector<std::unique_ptr<RemoteFlow>> flows;
  std::vector<Peer> peers;
  std::deque<std::vector<uint8_t>> payloads;
  uint64_t opened = 0, stalled = 0;
  std::mt19937 rng{GetParam()};
};

TEST_P(ReceiveFuzz, ThePoolAlwaysAddsUpAndNothingIsLeftBehind) {
  for (int step = 0; step < 20000; ++step) {
    const uint32_t i = rng() % kFlows;
    switch (rng() % 16) {
      case 0:
      case 3: app_reads(); break;
      case 1:
        if (rng() % 64 == 0) {  // a reset from the peer
          net::MachnetHeader rst;
          rst.flags = net::kFlagRst;
          rst.seq = peers[i].next_seq;
          feed(i, rst, 0);
        }
        break;
      case 2: now_us += rng() % 5000; break;
      default: send_some(i); break;
    }
    ch->end_stalled_reassemblies_st<RemoteFlow>(now_us, kStallLimitUs, [&](RemoteFlow& f) {
      ++stalled;
      f.flow.abort(transport::FlowError::kStalled, true);
    });
    wheel.advance(now_us, [&](transport::TimerWheel::Timer& t) { static_cast<transport::Flow*>(t.owner)->on_timer(now_us); });
    if (ch->room_changed) {  // as the engine does: room came back, the waiting flows go on
      ch->room_changed = false;
      std::vector<RemoteFlow*> waiting;
      waiting.swap(ch->blocked_flows);
      for (RemoteFlow* f : waiting) f->blocked_listed = false, f->flow.on_rx_room(now_us);
    }
    if (flows[i]->flow.state() == transport::FlowState::kClosed) {
      std::erase(ch->blocked_flows, flows[i].get());
      open_flow(i);  // the peer connects again (a new flow on the same ports)
    }
    check();
    if (HasFatalFailure()) FAIL() << "at step " << step << " (seed " << GetParam() << ")";
  }
  for (auto& f : flows) f->flow.abort(transport::FlowError::kLocalAbort, false);
  check();
  EXPECT_EQ(held.count.load(), 0u) << "a kept packet was never given back";
  EXPECT_TRUE(ch->reassembling.empty());
  EXPECT_EQ(ch->rx_waiting, 0u);
  const uint64_t delivered = ch->counters.msgs_out.load();
  std::printf("seed %u: %llu messages delivered, %llu packets not kept at the cap, %llu flows opened, %llu stalled "
              "messages ended\n", GetParam(), static_cast<unsigned long long>(delivered),
              static_cast<unsigned long long>(held.refused.load()), static_cast<unsigned long long>(opened),
              static_cast<unsigned long long>(stalled));
  EXPECT_GT(held.refused.load(), 0u) << "the fuzzer never reached the held-buffer cap";
  // Most packets meet the held cap (the peers send far ahead of gaps, as row 4's attacker
  // does): dozens of whole messages per seed still arrive.
  EXPECT_GT(delivered, 40u) << "the fuzzer delivered too little to have tested reassembly";
  EXPECT_GT(stalled, 0u) << "no stalled reservation was ever ended";
}

INSTANTIATE_TEST_SUITE_P(Seeds, ReceiveFuzz, ::testing::Values(1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u));

}  // namespace
}  // namespace machnet::engine
