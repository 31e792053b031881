// Closing a flow on the simulated wire (testing/sim_wire.h): a FIN ends one direction
// only, so everything either application queued before the close is delivered, each end
// hears the close after the last message, and a lost final ACK still ends in order on both
// sides (docs/wire-protocol.md, "Close").
#include <gtest/gtest.h>

#include <memory>

#include "transport/testing/sim_wire.h"

namespace machnet::transport::sim {
namespace {

constexpr uint32_t kMessages = 200;

FlowParams params() { return test_params(); }

Impairments with_loss(double loss) {
  Impairments i;
  i.loss = loss;
  return i;
}

// Every message of both plans queued in one go, so most are still queued or in flight
// when close() comes right after.
Workload all_at_once(uint32_t n) {
  Workload w;
  w.messages = n;
  w.max_size = 16 << 10;
  w.in_flight = n;
  return w;
}

void step_until_queued(SimWire& w) {
  while (w.now_us < 10'000'000 && (w.end[0]->next_to_send < w.end[0]->plan.size() ||
                                   w.end[1]->next_to_send < w.end[1]->plan.size() || !w.end[1]->flow))
    w.step(10);
}

void step_until_closed(SimWire& w, uint64_t limit_us) {
  const uint64_t until = w.now_us + limit_us;
  while (w.now_us < until && !(w.end[0]->closed && w.end[1]->closed)) w.step(100);
}

// Each end received the other's whole plan, byte-exact, and heard of the close after it.
void expect_orderly(SimWire& w, FlowError end0, FlowError end1) {
  const FlowError want[2] = {end0, end1};
  for (auto& e : w.end) {
    const Endpoint& peer = *w.end[1 - e->index];
    EXPECT_EQ(e->next_expected, peer.plan.size()) << "end " << e->index << " missed messages";
    EXPECT_EQ(e->errors, 0u) << "end " << e->index;
    ASSERT_TRUE(e->closed.has_value()) << "end " << e->index << " never closed: " << to_string(e->flow->state());
    EXPECT_EQ(*e->closed, want[e->index]) << "end " << e->index << ": " << to_string(*e->closed);
    EXPECT_GE(e->closed_at_us, e->last_rx_at_us) << "end " << e->index << " heard the close before the data";
    EXPECT_EQ(e->flow->stats().tx_msgs, e->plan.size()) << "end " << e->index;
  }
}

class CloseUnderLoss : public ::testing::TestWithParam<double> {};

TEST_P(CloseUnderLoss, SendNThenCloseAtOncePeerReceivesAllNThenTheClose) {
  SimWire w(params(), with_loss(GetParam()), all_at_once(kMessages), 21);
  w.end[1]->plan.clear();  // one way
  step_until_queued(w);
  ASSERT_GT(w.end[0]->flow->inflight() + w.end[0]->flow->queued_messages(), 0u) << "close must find data in flight";
  w.end[0]->flow->close(w.now_us);
  step_until_closed(w, 20'000'000);
  expect_orderly(w, FlowError::kLocalClose, FlowError::kPeerClosed);
}

TEST_P(CloseUnderLoss, BothSidesSendAndCloseAtTheSameTimeAllDataArrivesBothWays) {
  SimWire w(params(), with_loss(GetParam()), all_at_once(kMessages), 22);
  step_until_queued(w);
  w.end[0]->flow->close(w.now_us);
  w.end[1]->flow->close(w.now_us);
  step_until_closed(w, 20'000'000);
  expect_orderly(w, FlowError::kLocalClose, FlowError::kLocalClose);
}

// Half-close: the side that receives the FIN still delivers what its application had
// queued, then sends its own FIN.
TEST_P(CloseUnderLoss, TheEndThatReceivesTheFinStillDeliversItsQueuedMessages) {
  SimWire w(params(), with_loss(GetParam()), all_at_once(kMessages), 23);
  w.end[0]->plan.resize(1);
  step_until_queued(w);
  w.end[0]->flow->close(w.now_us);
  step_until_closed(w, 20'000'000);
  expect_orderly(w, FlowError::kLocalClose, FlowError::kPeerClosed);
}

INSTANTIATE_TEST_SUITE_P(Transport, CloseUnderLoss, ::testing::Values(0.0, 0.05),
                         [](const auto& info) { return info.param == 0 ? "clean" : "loss5"; });

// Drops the first `drops` pure ACKs that acknowledge a FIN: the last packet of an orderly
// close, which nothing acknowledges in turn.
struct Fins {
  bool sent[2] = {false, false};
  uint32_t seq[2] = {0, 0};
  int left = 0, dropped = 0;
};

std::shared_ptr<Fins> drop_final_acks(SimWire& w, int drops, bool pure_only = true) {
  auto fins = std::make_shared<Fins>();
  fins->left = drops;
  w.drop_if = [fins, pure_only](int from, const Packet& p) {
    if (p.h.flags & net::kFlagFin) fins->sent[from] = true, fins->seq[from] = p.h.seq;
    const bool pure_ack = p.h.flags == net::kFlagAck;
    if ((pure_ack || !pure_only) && (p.h.flags & net::kFlagAck) && fins->left > 0 && fins->sent[1 - from] && p.h.ack == fins->seq[1 - from] + 1) {
      --fins->left, ++fins->dropped;
      return true;
    }
    return false;
  };
  return fins;
}

class FinalAckLost : public ::testing::TestWithParam<int> {};

TEST_P(FinalAckLost, BothSidesSeeAnOrderlyClose) {
  SimWire w(params(), Impairments{}, all_at_once(kMessages), 24);
  w.end[1]->plan.clear();
  auto fins = drop_final_acks(w, GetParam());
  step_until_queued(w);
  w.end[0]->flow->close(w.now_us);
  step_until_closed(w, 20'000'000);
  expect_orderly(w, FlowError::kLocalClose, FlowError::kPeerClosed);
  EXPECT_EQ(fins->dropped, GetParam());
}

TEST_P(FinalAckLost, SimultaneousCloseEndsInOrderOnBothSides) {
  SimWire w(params(), Impairments{}, all_at_once(kMessages), 25);
  auto fins = drop_final_acks(w, GetParam());
  step_until_queued(w);
  w.end[0]->flow->close(w.now_us);
  w.end[1]->flow->close(w.now_us);
  step_until_closed(w, 20'000'000);
  expect_orderly(w, FlowError::kLocalClose, FlowError::kLocalClose);
  EXPECT_GE(fins->dropped, 1);
}

// The receiver's first packet that acknowledges the FIN also acknowledges the last message
// (they arrived together): when it is lost, the closer retransmits that message, which must
// still end in order (the old full close answered it with a reset: ECONNRESET).
TEST(Transport, TheAckOfTheLastMessageAndTheFinLostTogetherStillEndsInOrder) {
  SimWire w(params(), Impairments{}, all_at_once(kMessages), 27);
  w.end[1]->plan.clear();
  auto fins = drop_final_acks(w, 1, /*pure_only=*/false);
  step_until_queued(w);
  w.end[0]->flow->close(w.now_us);
  step_until_closed(w, 20'000'000);
  expect_orderly(w, FlowError::kLocalClose, FlowError::kPeerClosed);
  EXPECT_EQ(fins->dropped, 1);
}

// 1: the time-wait answers the retransmitted FIN. 4: more lost than a time-wait lasts, so
// the retransmission meets the reset of a forgotten flow, still taken as an orderly end.
INSTANTIATE_TEST_SUITE_P(Transport, FinalAckLost, ::testing::Values(1, 4),
                         [](const auto& info) { return "drops" + std::to_string(info.param); });

// A flow whose both directions ended lingers (time-wait) to answer a lost final ACK, and
// reports the close once that time passed without a retransmission.
TEST(Transport, TimeWaitLastsTwiceTheMaximumRto) {
  SimWire w(params(), Impairments{}, all_at_once(10), 26);
  w.end[1]->plan.clear();
  step_until_queued(w);
  w.end[0]->flow->close(w.now_us);
  while (w.now_us < 5'000'000 && w.end[0]->flow->state() != FlowState::kTimeWait &&
         w.end[1]->flow->state() != FlowState::kTimeWait)
    w.step(10);
  const uint64_t entered = w.now_us;
  step_until_closed(w, 5'000'000);
  expect_orderly(w, FlowError::kLocalClose, FlowError::kPeerClosed);
  for (auto& e : w.end) {
    EXPECT_GE(e->closed_at_us, entered + 2 * params().rto_max_us - 1000) << "end " << e->index;
    EXPECT_LE(e->closed_at_us, entered + 2 * params().rto_max_us + 10'000) << "end " << e->index;
  }
}

}  // namespace
}  // namespace machnet::transport::sim
