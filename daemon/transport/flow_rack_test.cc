// Loss recovery when few packets are in flight (RACK-TLP, RFC 8985) on the simulated wire:
// a window-1 RPC recovers a lost request or reply in about two round trips, not a
// retransmission timeout; a loss at the tail of a burst is repaired by the tail-loss probe;
// reordering within the reorder window retransmits nothing.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "transport/testing/sim_wire.h"

namespace machnet::transport::sim {
namespace {

FlowParams params() {
  FlowParams p;
  p.mss = 1424;
  p.cc.initial_window = 16;
  p.cc.min_window = 2;
  p.cc.max_window = 128;
  p.rto_min_us = 1000;  // the shipped [transport] rto_min_us
  p.rto_max_us = 100000;
  return p;
}

uint64_t percentile(std::vector<uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

struct RpcResult {
  std::vector<uint64_t> us;  // completion times
  uint64_t sim_us = 0;
  FlowStats client, server;
  uint64_t lost = 0;
};

// `n` RPCs of 1 KB each way, one outstanding (window 1), on a wire with `loss`.
RpcResult run_rpcs(uint32_t n, double loss, uint32_t one_way_us, uint64_t seed) {
  Workload work;
  work.messages = n;
  work.in_flight = 1;
  work.rpc = true;
  Impairments imp;
  imp.loss = loss;
  imp.delay_us = one_way_us;
  SimWire w(params(), imp, work, seed);
  for (auto& e : w.end) e->plan.assign(n, 1000);
  const uint64_t start = w.now_us;
  const bool finished = w.run(600'000'000);
  EXPECT_TRUE(finished) << "client got " << w.end[0]->next_expected << "/" << n;
  for (auto& e : w.end) EXPECT_EQ(e->errors, 0u);
  RpcResult r;
  r.us = w.end[0]->rpc_us;
  r.sim_us = w.now_us - start;
  r.client = w.end[0]->flow->stats();
  r.server = w.end[1]->flow->stats();
  r.lost = w.lost;
  return r;
}

void report(const char* name, const RpcResult& r) {
  const double rate = r.us.size() * 1e6 / double(r.sim_us);
  std::printf("%s: %zu RPCs, %.0f RPC/s (simulated), p50 %llu us, p99 %llu us, p99.9 %llu us, max %llu us; "
              "packets lost %llu; rto %llu, tlp probes %llu (repaired %llu), rack losses %llu + %llu on timer\n",
              name, r.us.size(), rate, (unsigned long long)percentile(r.us, 0.5), (unsigned long long)percentile(r.us, 0.99),
              (unsigned long long)percentile(r.us, 0.999), (unsigned long long)*std::max_element(r.us.begin(), r.us.end()),
              (unsigned long long)r.lost, (unsigned long long)(r.client.rto_timeouts + r.server.rto_timeouts),
              (unsigned long long)(r.client.tlp_probes + r.server.tlp_probes),
              (unsigned long long)(r.client.tlp_recoveries + r.server.tlp_recoveries),
              (unsigned long long)(r.client.fast_retransmits + r.server.fast_retransmits),
              (unsigned long long)(r.client.rack_timer_losses + r.server.rack_timer_losses));
}

// The case: 1 % loss, window 1. Every RPC that lost its request or its reply
// finishes about two round trips late (the probe timeout, 2 SRTT), far below the 1 ms RTO
// floor; only a lost probe (a loss on top of a loss) leaves it to the RTO.
TEST(Rack, WindowOneRpcWithOnePercentLossRecoversInAboutTwoRoundTrips) {
  const RpcResult r = run_rpcs(20000, 0.01, 50, 21);
  report("window-1 RPC, 1% loss, 50 us one way", r);
  ASSERT_EQ(r.us.size(), 20000u);
  const uint64_t p50 = percentile(r.us, 0.5);  // one round trip: no loss
  uint64_t late = 0, recovered_fast = 0, slow = 0;
  for (uint64_t t : r.us) {
    if (t <= p50 + p50 / 2) continue;
    ++late;
    if (t <= 4 * p50) ++recovered_fast;  // one RTT + ~2 SRTT of probe timeout + a timer tick
    if (t >= 1000) ++slow;               // waited for an RTO
  }
  RecordProperty("p50_us", std::to_string(p50));
  RecordProperty("late", std::to_string(late));
  RecordProperty("slow", std::to_string(slow));
  EXPECT_GT(late, 100u) << "1 % of ~40000 packets lost: about 400 late RPCs";
  EXPECT_GE(recovered_fast * 100, late * 95) << "a lost request or reply must cost ~2 RTTs, not an RTO";
  EXPECT_LE(slow * 100, late * 3);
  const uint64_t rto = r.client.rto_timeouts + r.server.rto_timeouts;
  const uint64_t tlp = r.client.tlp_recoveries + r.server.tlp_recoveries;
  EXPECT_GT(tlp, 100u);
  EXPECT_LE(rto * 20, tlp) << "timeouts only where a probe was lost too";
}

// A message of 8 segments whose last segment is lost: no later segment exists to reveal the
// hole, so before RACK-TLP only the RTO repaired it. The probe (the last segment again)
// repairs it about 2 SRTT after the burst, and counts as one recovery (one window cut).
TEST(Rack, ATailLossInABurstIsRepairedByTheProbe) {
  Workload work;
  work.messages = 3;
  work.in_flight = 1;
  work.rpc = true;
  Impairments imp;
  imp.delay_us = 50;
  SimWire w(params(), imp, work, 5);
  // A 1-segment warm-up RPC (for an RTT sample), then an 8-segment request and a 1-byte reply.
  w.end[0]->plan = {100, 8 * 1424, 100};
  w.end[1]->plan = {100, 1, 100};
  bool dropped = false;
  w.drop_if = [&](int from, const Packet& p) {
    if (from != 0 || dropped || !(p.h.flags & net::kFlagLast) || p.payload.size() != 1424) return false;
    return dropped = true;
  };
  ASSERT_TRUE(w.run(10'000'000));
  EXPECT_TRUE(dropped);
  EXPECT_EQ(w.end[1]->errors, 0u);
  const FlowStats& s = w.end[0]->flow->stats();
  EXPECT_EQ(s.rto_timeouts, 0u);
  EXPECT_EQ(s.tlp_probes, 1u);
  EXPECT_EQ(s.tlp_recoveries, 1u);
  EXPECT_EQ(s.recoveries, 1u);
  ASSERT_EQ(w.end[0]->rpc_us.size(), 3u);
  EXPECT_LT(w.end[0]->rpc_us[1], 4 * w.end[0]->rpc_us[0] + 100) << "repaired ~2 SRTT late, not at the 1 ms RTO";
}

// A hole in the middle of a short burst with nothing sent after it for a while: the
// segments above it arrive, and RACK's reorder timer (not three duplicate ACKs, which a
// burst of four cannot produce, nor the RTO) marks it lost a reorder window later.
TEST(Rack, AHoleWithFewPacketsAboveItIsFoundByTheReorderTimer) {
  Workload work;
  work.messages = 3;
  work.in_flight = 1;
  work.rpc = true;
  Impairments imp;
  imp.delay_us = 50;
  SimWire w(params(), imp, work, 6);
  w.end[0]->plan = {100, 3 * 1424, 100};
  w.end[1]->plan = {100, 1, 100};
  bool dropped = false;
  w.drop_if = [&](int from, const Packet& p) {
    if (from != 0 || dropped || !(p.h.flags & net::kFlagFirst) || p.h.msg_len != 3 * 1424) return false;
    return dropped = true;
  };
  ASSERT_TRUE(w.run(10'000'000));
  EXPECT_TRUE(dropped);
  EXPECT_EQ(w.end[1]->errors, 0u);
  const FlowStats& s = w.end[0]->flow->stats();
  EXPECT_EQ(s.rto_timeouts, 0u);
  EXPECT_EQ(s.retransmissions, 1u);
  EXPECT_EQ(s.fast_retransmits + s.rack_timer_losses, 1u);
  EXPECT_EQ(s.recoveries, 1u);
  ASSERT_EQ(w.end[0]->rpc_us.size(), 3u);
  EXPECT_LT(w.end[0]->rpc_us[1], 3 * w.end[0]->rpc_us[0]);
}

// Reordering that stays within the reorder window (a quarter of the minimum RTT) is not
// loss: nothing is retransmitted.
TEST(Rack, ReorderingWithinTheWindowRetransmitsNothing) {
  Workload work;
  work.messages = 2000;
  work.max_size = 16 << 10;
  Impairments imp;
  imp.delay_us = 200;          // min RTT ~400 us: reorder window ~100 us
  imp.reorder = 0.10;
  imp.reorder_extra_us = 40;   // well inside it
  imp.bytes_per_us = 0;
  SimWire w(params(), imp, work, 8);
  ASSERT_TRUE(w.run(60'000'000));
  EXPECT_GT(w.reordered, 500u);
  for (auto& e : w.end) {
    EXPECT_EQ(e->errors, 0u);
    const FlowStats& s = e->flow->stats();
    EXPECT_EQ(s.retransmissions, 0u) << "end " << e->index;
    EXPECT_EQ(s.rto_timeouts, 0u) << "end " << e->index;
    EXPECT_GT(s.rx_out_of_order, 0u) << "end " << e->index;
  }
}

// Five packets in a row lost from a full window: RACK finds them all from the SACKs of the
// packets after them, they are retransmitted without a timeout, and the window is cut once
// for the episode, not once per loss or per round trip of the repair.
TEST(Rack, ABurstOfLossesIsOneRecoveryEpisode) {
  FlowParams p = params();
  p.cc.algorithm = CcAlgorithm::kSwift;
  Workload work;
  work.messages = 400;
  work.max_size = 64 << 10;
  work.in_flight = 64;
  Impairments imp;
  imp.delay_us = 50;
  imp.bytes_per_us = 0;  // no queueing: the window is cut for loss only
  SimWire w(p, imp, work, 4);
  w.end[1]->plan.clear();  // one way
  uint32_t data_packets = 0;
  w.drop_if = [&](int from, const Packet& pk) {
    if (from != 0 || !(pk.h.flags & net::kFlagData)) return false;
    const uint32_t n = data_packets++;
    return n >= 300 && n < 305;
  };
  ASSERT_TRUE(w.run(60'000'000));
  EXPECT_EQ(w.end[1]->errors, 0u);
  const FlowStats& s = w.end[0]->flow->stats();
  EXPECT_EQ(s.rto_timeouts, 0u);
  EXPECT_EQ(s.fast_retransmits + s.rack_timer_losses, 5u);
  EXPECT_EQ(s.retransmissions, 5u);
  EXPECT_EQ(s.recoveries, 1u);
}

// The probe timeout is 2 SRTT, so the first RTT sample must be the path's. When the first
// SYN-ACK is lost, the SYN is sent again 10 ms later; the SYN-ACK that answers it must not
// make a 10 ms sample (it echoed the first SYN's timestamp before).
TEST(Rack, TheHandshakeSampleAfterASynRetransmissionIsTheRoundTrip) {
  Workload work;
  work.messages = 1;
  Impairments imp;
  imp.delay_us = 50;
  SimWire w(params(), imp, work, 3);
  bool dropped = false;
  w.drop_if = [&](int from, const Packet& p) {
    if (from != 1 || dropped || !(p.h.flags & net::kFlagSynAck)) return false;
    return dropped = true;
  };
  while (!w.end[0]->established && w.now_us < 2'000'000) w.step(10);
  ASSERT_TRUE(w.end[0]->established);
  EXPECT_TRUE(dropped);
  EXPECT_GT(w.now_us, 1'000'000u + 10'000u) << "established by the second SYN";
  EXPECT_LT(w.end[0]->flow->rtt().srtt_us(), 500u);
}

}  // namespace
}  // namespace machnet::transport::sim
