// Flow control on the simulated wire (testing/sim_wire.h): the receive window counts the
// buffers a message reserved when it began, so a message as large as the receiver's whole
// room still streams; a closed window is flow control (persist probes), not loss, so a slow
// reader keeps the sender's congestion window; a reopened window resends nothing; the
// window is never taken from a stale ACK; a duplicate never changes the echoed timestamp.
#include <gtest/gtest.h>

#include <cmath>

#include "transport/testing/sim_wire.h"

namespace machnet::transport::sim {
namespace {

FlowParams params() { return test_params(); }

// One way only: end 0 sends `plan`, end 1 reads.
void one_way(SimWire& w, std::vector<uint32_t> plan) {
  w.end[0]->plan = std::move(plan);
  w.end[1]->plan.clear();
}

// The shipped channel (buffers_per_channel 4096 x 4096 B) gives its daemon-side pool, the
// receive room, 8 MiB: exactly one 8 MiB message. Before the window counted reserved
// buffers it read 0 through every such message, and each one crawled at a probe per RTO.
TEST(FlowWindow, MessagesAsLargeAsTheWholeRoomMoveAtLinkSpeed) {
  constexpr uint32_t kBig = 8u << 20;
  constexpr uint32_t kCount = 6;
  Workload work;
  work.in_flight = 2;
  Impairments imp;  // 10 Gbit/s bottleneck, 10 us one way
  SimWire w(params(), imp, work, 21);
  one_way(w, std::vector<uint32_t>(kCount, kBig));
  w.end[1]->room_bytes = kBig;
  const uint64_t start = w.now_us;
  ASSERT_TRUE(w.run(10'000'000)) << "delivered " << w.end[1]->next_expected << "/" << kCount;
  EXPECT_EQ(w.end[1]->errors, 0u);
  const double took_us = static_cast<double>(w.now_us - start);
  // Serialisation alone at the bottleneck, as the sim charges it: whole microseconds for
  // each packet's payload plus 90 bytes of headers.
  const FlowParams p = params();
  const double packets = double{kCount} * ((kBig + p.mss - 1) / p.mss);
  const double ideal_us = packets * std::floor((p.mss + 90) / imp.bytes_per_us);
  RecordProperty("took_us", std::to_string(took_us));
  RecordProperty("ideal_us", std::to_string(ideal_us));
  // Between messages the reader must give the room back before the next one can begin:
  // a round trip per message, and the window ramps from there. 1.5x the line rate bounds
  // that; the probe-per-RTO crawl took over 10x.
  EXPECT_LT(took_us, 1.5 * ideal_us);
  EXPECT_EQ(w.end[0]->flow->stats().rto_timeouts, 0u);
  EXPECT_EQ(w.end[0]->flow->stats().retransmissions, 0u);
  // The window closes at each message's end (the room is the message's) and reopens when
  // the reader gives it back: the receiver says so at once, the sender never has to probe.
  EXPECT_GE(w.end[1]->flow->stats().window_updates, kCount - 1);
  EXPECT_EQ(w.end[0]->flow->stats().window_probes, 0u);
}

// Delivered 16 KiB messages per millisecond, measured over `ms` of simulated time.
double rate_per_ms(SimWire& w, uint64_t ms) {
  const uint32_t before = w.end[1]->next_expected;
  w.step(ms * 1000);
  return double(w.end[1]->next_expected - before) / double(ms);
}

// A reader that stops for 2 s and then reads again: the sender waits in persist (a few
// probes, no timeouts, no loss marks), keeps its congestion window, and is back at the
// rate it had within a few round trips.
TEST(FlowWindow, ASlowReaderHoldsTheSenderWithoutCollapsingItsWindow) {
  Workload work;
  work.messages = 200000;
  work.in_flight = 64;
  Impairments imp;
  imp.bytes_per_us = 125;  // 1 Gbit/s: the rate is the link's, so "back at rate" is checkable
  SimWire w(params(), imp, work, 31);
  one_way(w, std::vector<uint32_t>(200000, 16u << 10));
  w.end[1]->room_bytes = 4u << 20;
  w.step(50'000);  // past slow start
  Endpoint& tx = *w.end[0];
  Endpoint& rx = *w.end[1];
  const double rate_before = rate_per_ms(w, 10);
  ASSERT_GT(rate_before, 1.0);
  const uint32_t cwnd_before = tx.flow->cwnd();
  const FlowStats before = tx.flow->stats();

  rx.paused = true;
  w.step(2'000'000);
  EXPECT_EQ(tx.flow->state(), FlowState::kEstablished);
  EXPECT_EQ(tx.flow->peer_window(), 0u) << "the receiver should advertise a closed window";
  EXPECT_EQ(tx.flow->stats().rto_timeouts, before.rto_timeouts) << "a closed window is not loss";
  EXPECT_GT(tx.flow->stats().window_probes, before.window_probes);
  EXPECT_LT(tx.flow->stats().window_probes - before.window_probes, 40u) << "probes back off";
  EXPECT_GE(tx.flow->cwnd(), cwnd_before) << "the congestion window must survive a slow reader";

  rx.paused = false;
  const uint64_t srtt = tx.flow->rtt().srtt_us();
  w.step(5 * srtt);  // a few round trips
  const double rate_after = rate_per_ms(w, 10);
  RecordProperty("rate_before_per_ms", std::to_string(rate_before));
  RecordProperty("rate_after_per_ms", std::to_string(rate_after));
  RecordProperty("cwnd_before", std::to_string(cwnd_before));
  RecordProperty("cwnd_after", std::to_string(tx.flow->cwnd()));
  EXPECT_GE(rate_after, 0.9 * rate_before);
  EXPECT_EQ(tx.flow->stats().rto_timeouts, before.rto_timeouts);
  EXPECT_EQ(rx.errors, 0u);
}

// While the window is closed the receiver holds what reached it; when it reopens nothing
// is sent again but the persist probes themselves (a clean wire: no loss to repair).
TEST(FlowWindow, AReopenedWindowResendsNothingAlreadyDelivered) {
  Workload work;
  work.in_flight = 32;
  SimWire w(params(), Impairments{}, work, 41);
  one_way(w, std::vector<uint32_t>(3000, 16u << 10));
  w.end[1]->room_bytes = 1u << 20;
  w.step(20'000);
  Endpoint& tx = *w.end[0];
  Endpoint& rx = *w.end[1];
  rx.paused = true;
  w.step(300'000);
  ASSERT_EQ(tx.flow->peer_window(), 0u);
  EXPECT_GT(tx.flow->inflight(), 0u) << "segments the receiver holds while blocked";
  rx.paused = false;
  ASSERT_TRUE(w.run(60'000'000));
  EXPECT_EQ(rx.errors, 0u);
  const FlowStats& s = tx.flow->stats();
  EXPECT_EQ(s.retransmissions, 0u);
  EXPECT_EQ(s.rto_timeouts, 0u);
  // Probes resend the head the receiver holds (a duplicate there) or, with nothing in
  // flight, send the next segment: so every duplicate is a probe, nothing else came twice.
  EXPECT_LE(rx.flow->stats().rx_duplicates, s.window_probes) << "something but a probe was sent twice";
}

// ACKs overtake each other. A late one must not close (or reopen) the window.
TEST(FlowWindow, AStaleAckDoesNotMoveTheWindow) {
  Workload work;
  SimWire w(params(), Impairments{}, work, 51);
  one_way(w, std::vector<uint32_t>(20, 1000));
  ASSERT_TRUE(w.run(1'000'000));
  w.step(1000);  // the last ACKs land
  Flow& tx = *w.end[0]->flow;
  const uint32_t una = tx.snd_una();
  const uint32_t open = tx.peer_window();
  ASSERT_GT(open, 0u);
  const uint32_t peer_now = w.end[1]->last_sent.tsval;

  net::MachnetHeader h;
  h.conn_id = tx.conn_id();
  h.flags = net::kFlagAck;
  h.ack = una;
  h.seq = w.end[1]->last_sent.seq;
  h.window = 0;
  h.tsval = peer_now - 500;  // sent before the last one we took the window from
  tx.receive(h, nullptr, 0, nullptr, w.now_us);
  EXPECT_EQ(tx.peer_window(), open) << "an older ACK closed the window";

  h.ack = una - 1;  // acknowledges less than we know was received
  h.tsval = peer_now + 10;
  tx.receive(h, nullptr, 0, nullptr, w.now_us);
  EXPECT_EQ(tx.peer_window(), open) << "an ACK behind snd_una closed the window";

  h.ack = una;  // a fresh one does
  h.window = 3;
  h.tsval = peer_now + 20;
  tx.receive(h, nullptr, 0, nullptr, w.now_us);
  EXPECT_EQ(tx.peer_window(), 3u);
  h.window = 100;  // and one from between them, arriving after it, does not undo it
  h.tsval = peer_now + 15;
  tx.receive(h, nullptr, 0, nullptr, w.now_us);
  EXPECT_EQ(tx.peer_window(), 3u);
}

// The receiver echoes the timestamp of new data only: a duplicate of a held segment (a
// retransmission after a spurious timeout, or a window probe) must not replace it, or the
// sender's spurious-timeout undo (Eifel) sees the retransmission's time and never undoes.
TEST(FlowWindow, ADuplicateDoesNotChangeTheEchoedTimestamp) {
  Workload work;
  SimWire w(params(), Impairments{}, work, 61);
  one_way(w, std::vector<uint32_t>(5, 1000));
  ASSERT_TRUE(w.run(1'000'000));
  Flow& rx = *w.end[1]->flow;
  const uint32_t next = w.end[0]->flow->snd_una();  // = the receiver's rcv_nxt: all delivered
  const uint32_t t0 = static_cast<uint32_t>(w.now_us);
  std::vector<uint8_t> payload(100, 7);

  net::MachnetHeader h;
  h.conn_id = rx.conn_id();
  h.flags = net::kFlagData | net::kFlagFirst | net::kFlagLast;
  h.msg_len = 100;
  h.seq = next + 1;  // out of order: held
  h.tsval = t0 + 100;
  auto* first = new Packet;
  ASSERT_TRUE(rx.receive(h, payload.data(), 100, first, w.now_us));
  h.tsval = t0 + 900;  // the same segment again, sent later
  EXPECT_FALSE(rx.receive(h, payload.data(), 100, nullptr, w.now_us));
  rx.pump(w.now_us);
  EXPECT_EQ(w.end[1]->last_sent.tsecr, t0 + 100) << "the duplicate's timestamp was echoed";
  EXPECT_EQ(rx.stats().rx_duplicates, 1u);
  rx.abort(FlowError::kLocalAbort, false);  // gives the held packet back
}

}  // namespace
}  // namespace machnet::transport::sim
