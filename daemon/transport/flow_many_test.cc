// Many flows through one drop-tail bottleneck (testing/many_flow_wire.h), with the shipped
// [transport] defaults: M = 2 .. 256 long-running flows share the link fairly (Jain's index
// over 100-RTT windows), the queue stays near the Swift target, nobody times out in a
// storm, and flows that join or leave find the new fair share within a bounded number of
// round trips. (A window-1 RPC with 1 % loss recovering in ~2 RTTs, not an RTO, is
// flow_rack_test's WindowOneRpcWithOnePercentLossRecoversInAboutTwoRoundTrips.)
//
// The wire: 10 Gbit/s bottleneck, 10 us each way, a drop-tail queue of 4096 full frames
// (5 ms at 10 Gbit/s): deep enough to hold the shipped target plus the whole flow-scaling
// range, so the steady signal is delay and drops are for the start-up burst only.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include "transport/configured_params.h"
#include "transport/testing/many_flow_wire.h"

namespace machnet::transport::sim {
namespace {

// The shipped [transport] and [channels] defaults (config/machnet.toml equals Config{},
// which config_loader_test checks), as the engine maps them.
FlowParams shipped() { return configured_params(TransportConfig{}, ChannelsConfig{}.max_message_bytes); }

// Flows made without the config (the transport's own tests and simulations) run on
// CcParams' default, which must therefore be the shipped one.
TEST(ManyFlowsDefaults, TheTransportDefaultForFlowScalingIsTheShippedOne) {
  EXPECT_EQ(CcParams{}.flow_scaling_range_us, TransportConfig{}.flow_scaling_range_us);
}

constexpr double kFrameUs = (1424 + 90) / 1250.0;  // one full frame at the bottleneck

double jain(const std::vector<double>& x) {
  const double sum = std::accumulate(x.begin(), x.end(), 0.0);
  double sq = 0;
  for (double v : x) sq += v * v;
  return sq == 0 ? 1.0 : sum * sum / (double(x.size()) * sq);
}

// Mean smoothed RTT of the running senders: the "RTT" the windows below are counted in.
double mean_srtt_us(const ManyFlowWire& w, uint32_t from, uint32_t to) {
  double sum = 0;
  uint32_t n = 0;
  for (uint32_t i = from; i < to; ++i)
    if (w.senders[i]->flow && w.senders[i]->flow->rtt().srtt_us()) sum += w.senders[i]->flow->rtt().srtt_us(), ++n;
  return n ? sum / n : 0;
}

// Bytes each of flows [from, to) delivered in the next `us` of simulated time.
std::vector<double> measure(ManyFlowWire& w, uint32_t from, uint32_t to, uint64_t us) {
  std::vector<double> before;
  for (uint32_t i = from; i < to; ++i) before.push_back(double(w.delivered(i)));
  w.step(us);
  for (uint32_t i = from; i < to; ++i) before[i - from] = double(w.delivered(i)) - before[i - from];
  return before;
}

ManyFlowConfig wire_config(uint32_t m) {
  ManyFlowConfig c;
  c.flows = m;
  return c;
}

// Starts flows [from, to), one every 10 us (applications do not start in the same
// microsecond; the spacing is far below an RTT, so it is still an incast).
void start_flows(ManyFlowWire& w, uint32_t from, uint32_t to) {
  for (uint32_t i = from; i < to; ++i) w.start(i), w.step(10);
}

class ManyFlows : public ::testing::TestWithParam<uint32_t> {};

TEST_P(ManyFlows, ShareOneBottleneckFairlyNearTheTargetWithoutTimeouts) {
  const uint32_t m = GetParam();
  const FlowParams p = shipped();
  ManyFlowWire w(p, wire_config(m), 1000 + m);
  start_flows(w, 0, m);
  w.step(300'000);  // convergence: the start-up incast, then over 100 RTTs of AIMD at every M

  std::vector<uint64_t> rto_before(m);
  for (uint32_t i = 0; i < m; ++i) rto_before[i] = w.senders[i]->flow->stats().rto_timeouts;
  w.bottleneck.reset_stats();
  const uint64_t lost_before = w.lost_at_bottleneck;
  const double rtt = mean_srtt_us(w, 0, m);
  ASSERT_GT(rtt, 0);
  const uint64_t window_us = static_cast<uint64_t>(100 * rtt);
  double worst_jain = 1, total_bytes = 0;
  constexpr int kWindows = 3;
  for (int k = 0; k < kWindows; ++k) {
    const auto bytes = measure(w, 0, m, window_us);
    worst_jain = std::min(worst_jain, jain(bytes));
    total_bytes += std::accumulate(bytes.begin(), bytes.end(), 0.0);
  }
  // Payload delivered over what the link can carry of payload (full frames).
  const double goodput = total_bytes / (kWindows * window_us) / (w.config.bottleneck_bytes_per_us * p.mss / (p.mss + 90.0));
  uint64_t rto_after = 0, rto_during = 0, rto_total = 0, spurious = 0, errors = 0;
  for (uint32_t i = 0; i < m; ++i) {
    const FlowStats& s = w.senders[i]->flow->stats();
    rto_total += s.rto_timeouts;
    spurious += s.spurious_timeouts;
    rto_after = std::max<uint64_t>(rto_after, s.rto_timeouts - rto_before[i]);
    rto_during = std::max<uint64_t>(rto_during, rto_before[i]);
    errors += w.receivers[i]->errors + w.senders[i]->errors;
  }
  const double mean_wait = w.bottleneck.mean_wait_us();
  const uint32_t p99_wait = w.bottleneck.wait_quantile_us(0.99);
  std::printf("M=%u: rtt %.0f us, 100-RTT window %.1f ms, Jain min %.4f, goodput %.3f of the link, "
              "queueing mean %.0f us p99 %u us (max %llu packets); drops after convergence %llu (start-up %llu); "
              "RTOs per flow max %llu at start-up and %llu after, %llu in all (%llu spurious)\n",
              m, rtt, window_us / 1000.0, worst_jain, goodput, mean_wait, p99_wait,
              (unsigned long long)w.bottleneck.max_packets(), (unsigned long long)(w.lost_at_bottleneck - lost_before),
              (unsigned long long)lost_before, (unsigned long long)rto_during, (unsigned long long)rto_after,
              (unsigned long long)rto_total, (unsigned long long)spurious);
  RecordProperty("jain_min", std::to_string(worst_jain));
  RecordProperty("queue_mean_us", std::to_string(mean_wait));
  RecordProperty("queue_p99_us", std::to_string(p99_wait));

  EXPECT_EQ(errors, 0u);
  EXPECT_GE(worst_jain, 0.9);
  EXPECT_GE(goodput, 0.95) << "the link must stay busy";
  // Queueing. Swift steers each flow's RTT to its target: target_delay_us plus the
  // flow-scaling part, at most flow_scaling_range_us. The RTT adds the 20 us of propagation
  // to the queueing, so the queue settles a little below target + scaling. Over it by
  // what additive increase adds before the delay cut takes effect: one frame per flow per
  // RTT, and a cut acts a round trip after the sample that caused it, so two RTTs of it
  // (2 M frames). When M * max_window frames cannot fill the target, the queue is what
  // they fill. The p99 gets 200 us more for the short bursts a flow sends when a window
  // of ACKs arrives together (and the histogram's 10 us buckets).
  const double cap = p.cc.target_delay_us + p.cc.flow_scaling_range_us + 2.0 * m * kFrameUs;
  const double fill = m * double(p.cc.max_window) * kFrameUs;  // every window at its ceiling
  const double expected_high = std::min(cap, fill);
  EXPECT_LE(mean_wait, expected_high) << "the standing queue exceeds what the target allows";
  EXPECT_LE(p99_wait, expected_high + 200) << "bursts over the target must be short";
  // Not far below either: a queue that drains means the windows collapsed (or the
  // scaling made the target meaningless).
  EXPECT_GE(mean_wait, 0.5 * std::min(double(p.cc.target_delay_us), fill));
  // No RTO storm: none once converged, and the start-up incast (M flows each sending its
  // initial window at once) costs a flow at most a couple of timeouts.
  EXPECT_EQ(rto_after, 0u);
  EXPECT_LE(rto_during, 2u);
}

INSTANTIATE_TEST_SUITE_P(Transport, ManyFlows, ::testing::Values(2u, 8u, 32u, 256u),
                         [](const auto& info) { return "M" + std::to_string(info.param); });

// The first window of `step_rtts` (slid `step_rtts` at a time, from now) in which flows
// [from, to) share fairly (Jain >= 0.9) and every flow gets at least half the fair share:
// how many RTTs it took, or ~0u when not within `limit_rtts`.
uint32_t rtts_to_converge(ManyFlowWire& w, uint32_t from, uint32_t to, double rtt, uint32_t step_rtts, uint32_t limit_rtts) {
  for (uint32_t t = 0; t < limit_rtts; t += step_rtts) {
    const auto bytes = measure(w, from, to, static_cast<uint64_t>(step_rtts * rtt));
    const double fair = std::accumulate(bytes.begin(), bytes.end(), 0.0) / bytes.size();
    const double least = *std::min_element(bytes.begin(), bytes.end());
    if (jain(bytes) >= 0.9 && least >= 0.5 * fair) return t + step_rtts;
  }
  return ~0u;
}

// 16 flows run; 16 more join (their initial window against incumbents near 100 packets);
// then the first 16 leave. Both times the flows present find the new fair share within a
// bound: joiners grow by one packet per RTT from the initial window (32) while the
// incumbents shrink (flow scaling gives the smaller windows the higher target), and the fair
// window at 32 flows is ~50 packets: ~20 RTTs, so 60 (three times that) is the bound. A
// leave needs nothing to converge (the flows left have equal windows and a standing queue
// keeps the link busy): 20 RTTs.
TEST(ManyFlowsJoinLeave, FlowsThatJoinAndLeaveConvergeToTheNewFairShare) {
  const FlowParams p = shipped();
  ManyFlowWire w(p, wire_config(32), 77);
  start_flows(w, 0, 16);
  w.step(200'000);
  const double rtt16 = mean_srtt_us(w, 0, 16);

  start_flows(w, 16, 32);
  const uint32_t join_rtts = rtts_to_converge(w, 0, 32, rtt16, 5, 200);
  w.step(100'000);
  const double rtt32 = mean_srtt_us(w, 0, 32);

  for (uint32_t i = 0; i < 16; ++i) w.stop(i);
  const uint32_t leave_rtts = rtts_to_converge(w, 16, 32, rtt32, 5, 200);
  std::printf("join 16 -> 32 flows: converged within %u RTTs (RTT %.0f us); leave 32 -> 16: within %u RTTs (RTT %.0f us)\n",
              join_rtts, rtt16, leave_rtts, rtt32);
  EXPECT_LE(join_rtts, 60u);
  EXPECT_LE(leave_rtts, 20u);
  uint64_t rto = 0;
  for (uint32_t i = 16; i < 32; ++i) rto = std::max<uint64_t>(rto, w.senders[i]->flow->stats().rto_timeouts);
  EXPECT_LE(rto, 2u);
  for (uint32_t i = 16; i < 32; ++i) {
    EXPECT_EQ(w.receivers[i]->errors, 0u);
    EXPECT_EQ(w.senders[i]->flow->state(), FlowState::kEstablished);
  }
}

}  // namespace
}  // namespace machnet::transport::sim
