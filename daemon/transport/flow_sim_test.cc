// The transport against a simulated wire (testing/sim_wire.h): every schedule delivers every
// message exactly once, in order, byte-exact, in bounded simulated time; the congestion
// window reacts; flow control holds a sender back without losing anything; the handshake
// and teardown end the way the API promises.
#include <gtest/gtest.h>

#include "transport/seq.h"
#include "transport/testing/sim_wire.h"

namespace machnet::transport::sim {
namespace {

FlowParams params() { return test_params(); }

struct Schedule {
  const char* name;
  Impairments imp;
};

// Where each end stands, for a failure message.
std::string state(SimWire& w) {
  std::string out;
  for (auto& e : w.end) {
    if (!e->flow) continue;
    const Flow& f = *e->flow;
    out += "\n  end " + std::to_string(e->index) + ": " + to_string(f.state()) + " cwnd " + std::to_string(f.cwnd()) +
           " peer_window " + std::to_string(f.peer_window()) + " advertised " + std::to_string(f.advertised()) +
           " inflight " + std::to_string(f.inflight()) + " queued " + std::to_string(f.queued_messages()) +
           (f.rx_blocked() ? " rx_blocked" : "") + " used " + std::to_string(e->used_bytes) + " probes " +
           std::to_string(f.stats().window_probes) + " rto " + std::to_string(f.stats().rto_timeouts) + " rto_us " +
           std::to_string(f.rtt().rto_us());
  }
  return out;
}

void expect_all_delivered(SimWire& w, bool finished) {
  EXPECT_TRUE(finished) << "not done after " << (w.now_us - 1'000'000) << " us: end0 got "
                        << w.end[0]->next_expected << "/" << w.end[1]->plan.size() << ", end1 got "
                        << w.end[1]->next_expected << "/" << w.end[0]->plan.size() << state(w);
  for (auto& e : w.end) {
    EXPECT_EQ(e->errors, 0u) << "end " << e->index;
    ASSERT_TRUE(e->flow);
    EXPECT_EQ(e->flow->state(), FlowState::kEstablished);
  }
  // What one end counted as sent the other counted as received.
  EXPECT_EQ(w.end[0]->flow->stats().tx_msgs, w.end[1]->flow->stats().rx_msgs);
  EXPECT_EQ(w.end[1]->flow->stats().tx_msgs, w.end[0]->flow->stats().rx_msgs);
}

class Schedules : public ::testing::TestWithParam<Schedule> {};

TEST_P(Schedules, TenThousandMessagesEachWayExactlyOnceInOrder) {
  Workload work;
  work.messages = 10000;
  work.max_size = 64 << 10;
  work.big_messages = 2;
  Impairments imp = GetParam().imp;
  SimWire w(params(), imp, work, 42);
  const bool finished = w.run(120'000'000);
  expect_all_delivered(w, finished);
  const auto& s0 = w.end[0]->flow->stats();
  const auto& s1 = w.end[1]->flow->stats();
  RecordProperty("sim_ms", std::to_string((w.now_us - 1'000'000) / 1000));
  RecordProperty("retransmissions", std::to_string(s0.retransmissions + s1.retransmissions));
  if (imp.loss > 0 || imp.corrupt > 0) {
    EXPECT_GT(s0.retransmissions + s1.retransmissions, 0u);
  }
  if (imp.duplicate > 0) {
    EXPECT_GT(s0.rx_duplicates + s1.rx_duplicates, 0u);
  }
  if (imp.loss == 0 && imp.corrupt == 0 && imp.reorder == 0 && imp.duplicate == 0) {
    EXPECT_EQ(s0.rto_timeouts + s1.rto_timeouts, 0u);
  }
}

Impairments with(double loss, double dup, double corrupt, double reorder) {
  Impairments i;
  i.loss = loss, i.duplicate = dup, i.corrupt = corrupt, i.reorder = reorder;
  return i;
}

INSTANTIATE_TEST_SUITE_P(
    Transport, Schedules,
    ::testing::Values(Schedule{"clean", with(0, 0, 0, 0)}, Schedule{"loss1", with(0.01, 0, 0, 0)},
                      Schedule{"loss10", with(0.10, 0, 0, 0)}, Schedule{"loss30", with(0.30, 0, 0, 0)},
                      Schedule{"dup5", with(0, 0.05, 0, 0)}, Schedule{"corrupt2", with(0, 0, 0.02, 0)},
                      Schedule{"reorder10", with(0, 0, 0, 0.10)},
                      Schedule{"mixed", with(0.05, 0.01, 0.001, 0.02)}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Transport, WindowGrowsOnAClearLinkAndShrinksUnderDelayAndLoss) {
  Workload work;
  work.messages = 3000;
  work.max_size = 64 << 10;
  work.in_flight = 64;
  Impairments fast;
  fast.bytes_per_us = 0;  // no bottleneck: RTT stays far below the target
  SimWire clear(params(), fast, work, 7);
  expect_all_delivered(clear, clear.run(60'000'000));
  EXPECT_EQ(clear.max_cwnd_seen, 128u);

  Impairments slow;
  slow.bytes_per_us = 125;  // 1 Gbit/s: a window of 128 packets queues ~1.5 ms
  SimWire queued(params(), slow, work, 7);
  expect_all_delivered(queued, queued.run(60'000'000));
  EXPECT_LT(queued.end[0]->flow->cwnd(), 64u) << "swift should keep the queue near its 100 us target";

  SimWire lossy(params(), with(0.05, 0, 0, 0), work, 7);
  expect_all_delivered(lossy, lossy.run(60'000'000));
  EXPECT_LE(lossy.min_cwnd_seen, 4u);
}

// A shallow drop-tail queue (16 packets at 1 Gbit/s, where a window of 128 would queue
// 1.5 ms): the flows overflow it, lose packets in bursts, and still deliver everything
// exactly once, in order.
TEST(Transport, AShallowDropTailQueueLosesPacketsAndNothingElse) {
  Workload work;
  work.messages = 2000;
  work.in_flight = 64;
  Impairments shallow;
  shallow.bytes_per_us = 125;
  shallow.queue_packets = 16;
  SimWire w(params(), shallow, work, 29);
  expect_all_delivered(w, w.run(60'000'000));
  EXPECT_GT(w.queue_drops, 0u) << "the queue never overflowed: the test tests nothing";
  EXPECT_EQ(w.queue_drops, w.lost) << "the only losses are the queue's";
}

TEST(Transport, FixedWindowStaysPut) {
  FlowParams p = params();
  p.cc.algorithm = CcAlgorithm::kFixed;
  p.cc.initial_window = 32;
  Workload work;
  work.messages = 500;
  SimWire w(p, with(0.05, 0, 0, 0), work, 3);
  expect_all_delivered(w, w.run(60'000'000));
  EXPECT_EQ(w.min_cwnd_seen, 32u);
  EXPECT_EQ(w.max_cwnd_seen, 32u);
}

TEST(Transport, AReceiverThatStopsReadingHoldsTheSenderBackAndLosesNothing) {
  Workload work;
  work.messages = 2000;
  work.max_size = 16 << 10;
  SimWire w(params(), Impairments{}, work, 11);
  w.end[1]->room_bytes = 256 << 10;  // a small receiver
  w.end[1]->paused = true;
  w.step(200'000);
  Endpoint& rx = *w.end[1];
  Endpoint& tx = *w.end[0];
  EXPECT_LE(rx.used_bytes, rx.room_bytes + (16u << 10)) << "the receiver took more than its room";
  EXPECT_LT(rx.next_expected, 200u);
  EXPECT_LE(tx.unacked_msgs, work.in_flight) << "the sender's queue must not grow";
  EXPECT_LE(tx.flow->inflight(), kMaxWindow);
  EXPECT_EQ(tx.flow->state(), FlowState::kEstablished) << "a slow reader must not reset the flow";
  const uint64_t sent_while_paused = w.sent;
  w.step(2'000'000);  // two more seconds: only probes, no flood, no reset
  EXPECT_LT(w.sent - sent_while_paused, 2000u);
  EXPECT_EQ(tx.flow->state(), FlowState::kEstablished);
  rx.paused = false;
  expect_all_delivered(w, w.run(60'000'000));
}

TEST(Transport, ConnectToNobodyTimesOut) {
  Workload work;
  work.messages = 1;
  SimWire w(params(), Impairments{}, work, 1);
  w.link_down = true;
  w.step(3'000'000);
  ASSERT_TRUE(w.end[0]->closed.has_value());
  EXPECT_EQ(*w.end[0]->closed, FlowError::kConnectTimeout);
  EXPECT_GE(w.end[0]->closed_at_us, 1'000'000u + 2'000'000u);
  EXPECT_LT(w.end[0]->closed_at_us, 1'000'000u + 2'000'000u + 1000u);
  EXPECT_FALSE(w.end[0]->established);
}

TEST(Transport, AResetAnswerRefusesTheConnection) {
  Workload work;
  work.messages = 1;
  SimWire w(params(), Impairments{}, work, 1);
  net::MachnetHeader rst;
  rst.flags = net::kFlagRst;
  rst.conn_id = 0x1234;
  w.end[0]->flow->receive(rst, nullptr, 0, nullptr, w.now_us);
  ASSERT_TRUE(w.end[0]->closed.has_value());
  EXPECT_EQ(*w.end[0]->closed, FlowError::kRefused);
}

TEST(Transport, APeerThatVanishesIsResetAfterTheGiveUpTime) {
  FlowParams p = params();
  p.give_up_us = 500'000;
  Workload work;
  work.messages = 5000;
  SimWire w(p, Impairments{}, work, 5);
  w.step(2'000);
  ASSERT_TRUE(w.end[0]->established);
  ASSERT_GT(w.end[0]->flow->inflight(), 0u);
  w.link_down = true;
  const uint64_t down_at = w.now_us;
  w.step(5'000'000);
  ASSERT_TRUE(w.end[0]->closed.has_value());
  EXPECT_EQ(*w.end[0]->closed, FlowError::kRetransmitLimit);
  // Given up after give_up_us of timeouts, give or take the first RTO and one capped RTO.
  EXPECT_GE(w.end[0]->closed_at_us, down_at + p.give_up_us);
  EXPECT_LT(w.end[0]->closed_at_us, down_at + p.give_up_us + 2 * p.rto_max_us + 50'000);
  EXPECT_EQ(w.end[0]->unacked_msgs, 0u) << "every queued message was handed back";
}

// A VM pause or live migration: the wire is silent for 5 s mid-transfer. With the default
// give-up time the flow waits it out and every message arrives exactly once, in order.
TEST(Transport, AFiveSecondBlackoutWithTheDefaultGiveUpTimeLosesNothing) {
  FlowParams p = params();
  p.give_up_us = FlowParams{}.give_up_us;
  p.rto_max_us = FlowParams{}.rto_max_us;
  Workload work;
  work.messages = 3000;
  SimWire w(p, Impairments{}, work, 11);
  w.step(3'000);
  ASSERT_TRUE(w.end[0]->established);
  ASSERT_GT(w.end[0]->flow->inflight() + w.end[1]->flow->inflight(), 0u);
  ASSERT_LT(w.end[1]->next_expected, 3000u) << "the blackout must come mid-transfer";
  w.link_down = true;
  w.step(5'000'000);
  w.link_down = false;
  expect_all_delivered(w, w.run(30'000'000));
  EXPECT_GT(w.end[0]->flow->stats().rto_timeouts, 12u) << "more timeouts than the old count limit allowed";
  EXPECT_FALSE(w.end[0]->closed.has_value());
  EXPECT_FALSE(w.end[1]->closed.has_value());
}

// The engine answers a SYN with another conn_id on a live flow's ports with challenge_ack():
// one ACK of the live flow on the next pump, nothing else changes (the flow goes on).
TEST(Transport, AChallengeAckIsOneAckOfTheLiveFlow) {
  Workload work;
  work.messages = 200;
  SimWire w(params(), Impairments{}, work, 17);
  while (!w.end[1]->flow && w.now_us < 2'000'000) w.step(10);
  w.step(1'000);
  ASSERT_EQ(w.end[1]->flow->state(), FlowState::kEstablished);
  const uint64_t before = w.end[1]->flow->stats().tx_packets;
  w.end[1]->flow->challenge_ack();
  EXPECT_TRUE(w.end[1]->flow->wants_pump());
  w.end[1]->flow->pump(w.now_us);
  EXPECT_GE(w.end[1]->flow->stats().tx_packets, before + 1);
  expect_all_delivered(w, w.run(60'000'000));
  EXPECT_EQ(w.end[0]->flow->stats().protocol_errors + w.end[1]->flow->stats().protocol_errors, 0u);
}

// Keepalive: an idle flow whose peer answers lives on (each end probes after keepalive_us of
// silence and is answered); once the peer vanishes, the flow is reset keepalive_us +
// give_up_us after the peer's last packet.
TEST(Transport, KeepaliveKeepsAnIdleFlowAndNoticesAVanishedPeer) {
  FlowParams p = params();
  p.keepalive_us = 1'000'000;
  p.give_up_us = 2'000'000;
  Workload work;
  work.messages = 20;
  SimWire w(p, Impairments{}, work, 19);
  expect_all_delivered(w, w.run(10'000'000));
  w.step(10'000'000);  // idle, peer alive
  for (auto& e : w.end) {
    EXPECT_FALSE(e->closed.has_value()) << "end " << e->index;
    EXPECT_GE(e->flow->stats().keepalive_probes, 5u) << "end " << e->index;
    EXPECT_EQ(e->flow->stats().rx_msgs, 20u) << "a probe is not a message";
    EXPECT_EQ(e->errors, 0u);
  }
  w.link_down = true;
  const uint64_t down_at = w.now_us;
  w.step(10'000'000);
  ASSERT_TRUE(w.end[0]->closed.has_value());
  EXPECT_EQ(*w.end[0]->closed, FlowError::kRetransmitLimit);
  EXPECT_LE(w.end[0]->closed_at_us, down_at + p.keepalive_us + p.give_up_us + 10'000);
  EXPECT_GE(w.end[0]->closed_at_us, down_at + p.give_up_us);
}

// [transport] idle_timeout_ms: a flow whose peer answers every keepalive is still reset once
// no message went either way for the idle timeout; both ends hear of it.
TEST(Transport, IdleTimeoutResetsAFlowThatCarriesNoMessages) {
  FlowParams p = params();
  p.keepalive_us = 500'000;
  p.idle_timeout_us = 3'000'000;
  Workload work;
  work.messages = 20;
  SimWire w(p, Impairments{}, work, 23);
  expect_all_delivered(w, w.run(10'000'000));
  const uint64_t done_at = w.now_us;  // the last message went at or before this
  w.step(2'000'000);
  for (auto& e : w.end) {
    EXPECT_FALSE(e->closed.has_value()) << "end " << e->index << " reset before the idle timeout";
    EXPECT_GE(e->flow->stats().keepalive_probes, 2u) << "the peer answered keepalives meanwhile";
  }
  w.step(2'000'000);
  for (auto& e : w.end) {
    ASSERT_TRUE(e->closed.has_value()) << "end " << e->index << " still open after the idle timeout";
    EXPECT_TRUE(*e->closed == FlowError::kIdleTimeout || *e->closed == FlowError::kPeerReset) << to_string(*e->closed);
    EXPECT_LE(e->closed_at_us, done_at + p.idle_timeout_us + 10'000);
  }
  EXPECT_TRUE(*w.end[0]->closed == FlowError::kIdleTimeout || *w.end[1]->closed == FlowError::kIdleTimeout);
}

// An empty message is a message: delivered as one, in order, and the flow goes on.
TEST(Transport, EmptyMessagesAreDeliveredInOrder) {
  Workload work;
  work.messages = 6;
  SimWire w(params(), with(0.05, 0, 0, 0), work, 13);
  for (auto& e : w.end) e->plan = {0, 1, 0, 0, 5000, 0};
  expect_all_delivered(w, w.run(60'000'000));
  EXPECT_EQ(w.end[1]->flow->stats().rx_msgs, 6u);
}

TEST(Transport, CloseDeliversEverythingThenTellsBothEnds) {
  Workload work;
  work.messages = 50;
  SimWire w(params(), with(0.05, 0, 0, 0), work, 9);
  w.end[1]->plan.clear();  // one-way
  while (w.end[0]->next_to_send < w.end[0]->plan.size() && w.now_us < 60'000'000) w.step(100);
  w.end[0]->flow->close(w.now_us);
  w.step(5'000'000);
  EXPECT_EQ(w.end[1]->next_expected, 50u);
  EXPECT_EQ(w.end[1]->errors, 0u);
  ASSERT_TRUE(w.end[1]->closed.has_value());
  EXPECT_EQ(*w.end[1]->closed, FlowError::kPeerClosed);
  ASSERT_TRUE(w.end[0]->closed.has_value());
  EXPECT_EQ(*w.end[0]->closed, FlowError::kLocalClose);
}

// An ACK of what was never sent (a stale or forged packet) is counted and ignored: it
// cannot make anything look delivered that was not.
TEST(Transport, PacketsThatBreakTheProtocolAreCountedAndTheFlowGoesOn) {
  Workload work;
  work.messages = 100;
  SimWire w(params(), Impairments{}, work, 13);
  w.step(1000);
  Flow& rx = *w.end[1]->flow;
  net::MachnetHeader bad;
  bad.conn_id = 0x1234;
  bad.flags = net::kFlagAck;
  bad.ack = 0x7fffffff;  // acknowledges what was never sent
  rx.receive(bad, nullptr, 0, nullptr, w.now_us);
  EXPECT_GE(rx.stats().protocol_errors, 1u);
  EXPECT_EQ(rx.state(), FlowState::kEstablished);
  expect_all_delivered(w, w.run(60'000'000));
}

// A data segment that breaks the message framing must not be acknowledged: the sender
// would take its message for delivered while the receiver threw it away. The receiver
// resets the flow instead: the segment is never covered by an ACK, the peer gets an RST,
// and both applications are told (the receiver kProtocolError, the sender kPeerReset: both ECONNRESET).
TEST(Transport, ADataSegmentThatBreaksTheFramingResetsTheFlowAndIsNeverAcknowledged) {
  for (const bool in_order : {true, false}) {
    SCOPED_TRACE(in_order ? "consumed on arrival" : "consumed from the reorder buffer");
    Workload work;
    work.messages = 1;
    SimWire w(params(), Impairments{}, work, 23);
    w.end[1]->plan.clear();  // one-way
    ASSERT_TRUE(w.run(1'000'000));
    Flow& rx = *w.end[1]->flow;
    const uint32_t next = w.end[0]->flow->snd_una();  // the receiver's next expected segment
    const uint8_t payload[100] = {};
    net::MachnetHeader bad;
    bad.conn_id = 0x1234;
    bad.flags = net::kFlagData | net::kFlagLast;  // the end of a message never begun
    bad.seq = in_order ? next : next + 1;
    bad.tsval = static_cast<uint32_t>(w.now_us);
    rx.receive(bad, payload, sizeof payload, nullptr, w.now_us);
    if (!in_order) {
      EXPECT_EQ(rx.state(), FlowState::kEstablished) << "held out of order: not judged yet";
      net::MachnetHeader empty;  // a well-formed empty message fills the hole before it
      empty.conn_id = 0x1234;
      empty.flags = net::kFlagData | net::kFlagFirst | net::kFlagLast;
      empty.seq = next;
      empty.tsval = bad.tsval;
      rx.receive(empty, nullptr, 0, nullptr, w.now_us);
    }
    rx.pump(w.now_us);
    EXPECT_EQ(rx.stats().protocol_errors, 1u);
    EXPECT_EQ(rx.state(), FlowState::kClosed);
    ASSERT_TRUE(w.end[1]->closed.has_value());
    EXPECT_EQ(*w.end[1]->closed, FlowError::kProtocolError);
    const net::MachnetHeader& last = w.end[1]->last_sent;
    EXPECT_TRUE(last.flags & net::kFlagRst) << "the peer is told";
    EXPECT_TRUE(seq_lt(last.ack, bad.seq + 1)) << "the broken segment was acknowledged";
    w.step(10'000);
    ASSERT_TRUE(w.end[0]->closed.has_value());
    EXPECT_EQ(*w.end[0]->closed, FlowError::kPeerReset) << "the sender's application hears of it";
  }
}

}  // namespace
}  // namespace machnet::transport::sim
