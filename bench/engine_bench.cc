// The engine alone (issue 13: "simulated wire, one core, no apps: >= 5 M packets/s
// processed"): the real Engine, PortIo, parser, flow table and transport on one thread,
// fed and drained through DPDK's ring PMD (bench/engine_rig.h). Counted in
// items_per_second: data packets the engine processed.
//
//   BM_EngineRx/payload/packets_per_message/rx_offload
//     The receive path per packet: rte_eth_rx_burst, parse_frame (with the software UDP
//     checksum unless rx_offload says a NIC verified it), the flow table lookup,
//     Flow::receive, the copy into the channel's buffers and the message handed to the
//     application ring; per burst one ACK built, checksummed and sent with rte_eth_tx_burst.
//     Frames are pre-built into mbufs and queued on the RX ring while the timer is paused.
//   BM_EngineTx/message_bytes
//     The send path per packet: the application's message taken from its ring, segmented,
//     copied from the channel's buffers into mbufs, headers and software UDP checksum,
//     rte_eth_tx_burst; per drain of the TX ring one ACK back from the simulated peer,
//     processed by Flow::receive (RTT, congestion window, buffers back to the application).
//
// In the timed region besides the engine: the rig's side of the rings (reading delivered
// messages and returning their buffers, queueing messages to send as descriptors without
// copying bytes in, freeing transmitted frames, building the peer's one ACK per burst in
// BM_EngineTx). Not included: a NIC or PMD that touches the frames (the pre-built batch,
// 4096 frames, is larger than L2: the engine's first touch of a frame misses the cache as
// after a NIC's DMA, where memif's and af_packet's own copy would have warmed it), a
// second daemon, an application process, the application's copies.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "engine_rig.h"

namespace {

using machnet::bench::EngineRig;
using machnet::bench::PeerFlow;

constexpr uint32_t kBurst = 32;    // PortIo's receive burst: one poll takes this many
constexpr uint32_t kBatch = 4096;  // frames pre-built per pause of the timer

// The port's drops by reason, as "; port drops: reason n, ...", for the error message.
std::string dropped(EngineRig& rig) {
  std::string out;
  for (const auto& [reason, n] : rig.port_io().stats().drops)
    if (n) out += (out.empty() ? "" : ", ") + reason + " " + std::to_string(n);
  return out.empty() ? "" : "; port drops: " + out;
}

// A run is only a measurement of the fast path if nothing went wrong on the flow.
// Retransmissions are shown, not failed on: a tail-loss probe may fire when the scheduler
// takes the core away for longer than the probe timeout, which says nothing of the engine.
bool clean(benchmark::State& state, EngineRig& rig, const PeerFlow& f) {
  const auto row = rig.row(f);
  if (!row.transport) {
    state.SkipWithError("the flow is gone");
    return false;
  }
  const auto& t = *row.transport;
  state.counters["rx_dup"] = static_cast<double>(t.rx_duplicates);
  state.counters["rx_ooo"] = static_cast<double>(t.rx_out_of_order);
  state.counters["no_room"] = static_cast<double>(t.rx_no_room);
  state.counters["proto_err"] = static_cast<double>(t.protocol_errors);
  state.counters["retx"] = static_cast<double>(t.retransmissions);
  if (t.protocol_errors || t.rx_out_of_order || t.rx_duplicates || row.state != "established") {
    const std::string why = "the flow left the fast path: state " + row.state + ", protocol errors " +
                            std::to_string(t.protocol_errors) + ", out of order " + std::to_string(t.rx_out_of_order) +
                            ", duplicates " + std::to_string(t.rx_duplicates) + ", no room " +
                            std::to_string(t.rx_no_room) + dropped(rig);
    state.SkipWithError(why.c_str());
    return false;
  }
  return true;
}

void BM_EngineRx(benchmark::State& state) {
  EngineRig& rig = EngineRig::get();
  const auto payload = static_cast<uint32_t>(state.range(0));
  const auto per_message = static_cast<uint32_t>(state.range(1));
  const bool offload = state.range(2) != 0;
  PeerFlow f = rig.connect();
  std::vector<rte_mbuf*> batch(kBatch);
  uint64_t frames_out = 0, messages = 0;
  uint32_t left = 0;  // frames of the batch still on the RX ring
  for (auto _ : state) {
    if (left == 0) {
      state.PauseTiming();
      rig.build_data(f, batch.data(), kBatch, payload, per_message, offload);
      rig.inject(batch.data(), kBatch);
      left = kBatch;
      state.ResumeTiming();
    }
    rig.engine().poll_once_st();
    left -= kBurst;
    frames_out += rig.drain_tx(nullptr).frames;
    messages += rig.app_read();
  }
  // What the last batch left on the ring, so the next benchmark's handshake is not behind it.
  while (rig.rx_queued() > 0) {
    rig.engine().poll_once_st();
    rig.drain_tx(nullptr);
    rig.app_read();
  }
  const auto packets = static_cast<int64_t>(state.iterations()) * kBurst;
  state.SetItemsProcessed(packets);
  state.SetBytesProcessed(packets * payload);
  state.counters["acks_per_pkt"] = static_cast<double>(frames_out) / static_cast<double>(packets);
  state.counters["msgs_per_pkt"] = static_cast<double>(messages) / static_cast<double>(packets);
  clean(state, rig, f);
}
// Small messages (one 64 B packet each: the packets/s headline), then full-MSS packets in
// 64 KiB messages (46 x 1424 B); each with the parser's software checksum (memif,
// af_packet, the ring PMD) and as behind a NIC that verified it.
BENCHMARK(BM_EngineRx)
    ->ArgNames({"payload", "per_msg", "rx_offload"})
    ->Args({64, 1, 0})
    ->Args({64, 1, 1})
    ->Args({1424, 46, 0})
    ->Args({1424, 46, 1});

void BM_EngineTx(benchmark::State& state) {
  EngineRig& rig = EngineRig::get();
  const auto len = static_cast<uint32_t>(state.range(0));
  PeerFlow f = rig.connect_out();
  uint64_t data = 0;
  for (auto _ : state) {
    rig.app_send(f, len, kBurst);  // keeps the application ring stocked
    rig.engine().poll_once_st();
    const EngineRig::Drained d = rig.drain_tx(&f);
    data += d.data;
    if (d.data > 0) {  // the peer acknowledges what it got, once per burst
      rte_mbuf* ack = rig.build_ack(f);
      rig.inject(&ack, 1);
    }
  }
  // Everything queued sent and acknowledged, so the next run starts with an idle engine.
  for (int quiet = 0; quiet < 8;) {
    rig.engine().poll_once_st();
    if (rig.drain_tx(&f).data > 0) {
      rte_mbuf* ack = rig.build_ack(f);
      rig.inject(&ack, 1);
      quiet = 0;
    } else {
      ++quiet;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(data));
  clean(state, rig, f);
}
BENCHMARK(BM_EngineTx)->ArgName("msg_bytes")->Arg(64)->Arg(65536);

}  // namespace

BENCHMARK_MAIN();
