// The delayed ACK (FlowParams::ack_delay_us) on the simulated wire: in request-reply the
// reply carries the ACK of the request, so a round trip is two packets, not four; a
// message nobody answers is still acknowledged when the hold ends, before the sender's
// loss probe; a multi-packet message is acknowledged as it arrives, its last packet too.
#include <gtest/gtest.h>

#include "transport/testing/sim_wire.h"

namespace machnet::transport::sim {
namespace {

constexpr uint32_t kDelayUs = 15;  // what the daemon ships (configured_params.h)

FlowParams with_delay(uint32_t delay_us) {
  FlowParams p = test_params();
  p.ack_delay_us = delay_us;
  return p;
}

struct RpcRun {
  uint64_t packets = 0;  // sent by both ends, handshake and close included
  uint64_t sim_us = 0;
  FlowStats client, server;
};

// `n` RPCs at window 1 over a clean wire, requests and replies of `bytes` (one packet by
// default).
RpcRun rpcs(uint32_t delay_us, uint32_t n, uint32_t bytes = 1000) {
  Workload work;
  work.messages = n;
  work.in_flight = 1;
  work.rpc = true;
  work.reply_after_us = 5;  // the server's app runs after its engine pumped the flow
  Impairments imp;
  SimWire w(with_delay(delay_us), imp, work, 7);
  for (auto& e : w.end) e->plan.assign(n, bytes);
  const uint64_t start = w.now_us;
  EXPECT_TRUE(w.run(60'000'000)) << "client got " << w.end[0]->next_expected << "/" << n;
  for (auto& e : w.end) EXPECT_EQ(e->errors, 0u);
  return RpcRun{w.sent, w.now_us - start, w.end[0]->flow->stats(), w.end[1]->flow->stats()};
}

TEST(DelayedAck, TheReplyCarriesTheAckOfTheRequest) {
  constexpr uint32_t kRpcs = 2000;
  const RpcRun held = rpcs(kDelayUs, kRpcs);
  const RpcRun at_once = rpcs(0, kRpcs);
  // Without the delay the server acknowledges each request on its own before its app
  // answers: three packets a round trip here (the simulated client answers within the
  // step, so its next request carries its ACK; the engine's apps do not, hence four there).
  EXPECT_GT(at_once.packets, 2.8 * kRpcs);
  // With it, the request's ACK rides on the reply and the reply's on the next request.
  EXPECT_LT(held.packets, 2.2 * kRpcs);
  for (const FlowStats& s : {held.client, held.server}) {
    EXPECT_EQ(s.retransmissions, 0u);
    EXPECT_EQ(s.tlp_probes, 0u);
  }
  // And the round trips are no slower for it.
  EXPECT_LE(held.sim_us, at_once.sim_us * 11 / 10);
}

TEST(DelayedAck, OnlyOnePacketMessagesHoldTheirAck) {
  // Requests of three packets: every one of them, the last included, is acknowledged as it
  // arrives, so the delay changes nothing. (Holding the last one's ACK until the reply had
  // the sender's RTO fire on most 8 MiB requests when the answering application kept its
  // daemon off a shared core while it copied.)
  constexpr uint32_t kRpcs = 500, kBytes = 4000;
  const RpcRun held = rpcs(kDelayUs, kRpcs, kBytes);
  const RpcRun at_once = rpcs(0, kRpcs, kBytes);
  EXPECT_EQ(held.packets, at_once.packets);
  EXPECT_EQ(held.server.retransmissions + held.client.retransmissions, 0u);
}

TEST(DelayedAck, AMessageNobodyAnswersIsAcknowledgedBeforeTheLossProbe) {
  Workload work;
  work.messages = 200;
  work.in_flight = 1;  // one at a time, so each waits for its ACK
  Impairments imp;
  SimWire w(with_delay(kDelayUs), imp, work, 9);
  w.end[0]->plan.assign(200, 1000);
  w.end[1]->plan.clear();  // the receiver never sends: every ACK is a pure one, held first
  ASSERT_TRUE(w.run(10'000'000)) << "delivered " << w.end[1]->next_expected << "/200";
  EXPECT_EQ(w.end[1]->errors, 0u);
  const FlowStats& s = w.end[0]->flow->stats();
  EXPECT_EQ(s.tlp_probes, 0u) << "a held ACK came after the sender's probe timeout";
  EXPECT_EQ(s.retransmissions, 0u);
  EXPECT_EQ(s.rto_timeouts, 0u);
}

TEST(DelayedAck, AMultiPacketMessageIsAcknowledgedAsItArrives) {
  // 4 MiB one way with a window of 8 packets, so that every ACK held would show: none is,
  // and the transfer takes as long as without the delay (holding them all took over twice
  // as long).
  auto transfer_us = [](uint32_t delay_us) {
    Workload work;
    work.messages = 4;
    work.in_flight = 1;
    Impairments imp;
    FlowParams p = with_delay(delay_us);
    p.cc.initial_window = p.cc.max_window = 8;
    SimWire w(p, imp, work, 11);
    w.end[0]->plan.assign(4, 4u << 20);
    w.end[1]->plan.clear();
    const uint64_t start = w.now_us;
    EXPECT_TRUE(w.run(60'000'000));
    EXPECT_EQ(w.end[1]->errors, 0u);
    EXPECT_EQ(w.end[0]->flow->stats().retransmissions, 0u);
    return w.now_us - start;
  };
  const uint64_t held = transfer_us(kDelayUs), at_once = transfer_us(0);
  EXPECT_LE(held, at_once * 11 / 10) << held << " us against " << at_once;
}

}  // namespace
}  // namespace machnet::transport::sim
