// [limits] on flows from the wire: the caps a SYN must pass to become a flow (per engine,
// per remote address), the half-open timeout, the reassembly timeout, and their counters
// and log lines. A SYN flood from forged addresses then holds at most max_flows_per_engine
// flows, each for at most half_open_timeout_ms. (The cap on held packet buffers is applied
// where a flow keeps a packet: RemoteFlow::may_hold.) Nothing here logs per packet: counters move per packet, a
// summary line goes out at most once per kLogEveryUs. Engine thread.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "engine/engine.h"

namespace machnet::engine {
namespace {

constexpr uint64_t kLogEveryUs = 10'000'000;

}  // namespace

// A SYN past a cap is dropped without an answer: a reset would cost a frame per forged
// SYN, and a real client whose SYN meets a full table retries until its connect times out,
// by which time half-open flows may have gone.
bool Engine::admit_syn_st(const net::MachnetPacketInfo& p) {
  if (flows_.remote_count() >= limits_.max_flows_per_engine) [[unlikely]] {
    bump(counters_.syn_engine_cap);
    return false;
  }
  if (flows_.remote_count_for(p.src_ip.value) >= limits_.max_flows_per_remote_ip) [[unlikely]] {
    bump(counters_.syn_remote_ip_cap);
    return false;
  }
  return true;
}

void Engine::accepted_st(RemoteFlow& f) {
  half_open_.push_back(f.half_open, &f, now_us_ + uint64_t{limits_.half_open_timeout_ms} * 1000);
}

// Called every few milliseconds (the engine's ARP tick). Accept order is deadline order,
// so only the oldest flows are looked at.
void Engine::expire_half_open_st() {
  while (HalfOpenLink* oldest = half_open_.oldest()) {
    if (oldest->deadline_us > now_us_) break;
    auto* f = static_cast<RemoteFlow*>(oldest->owner);
    oldest->unlink();
    bump(counters_.half_open_timeouts);
    // The peer hears a reset (a real one that lost our SYN-ACK's answer learns why);
    // kConnectTimeout: the owning application was never told of the flow's failure.
    f->flow.abort(transport::FlowError::kConnectTimeout, true);
  }
  log_limits_st();
}

// A message being reassembled holds every buffer it needs (so it always completes). One
// that stalls while others wait for its channel's room is dropped and its flow reset (the
// peer and the application hear of it), and the flows waiting go on.
void Engine::expire_stalled_reassembly_st() {
  const uint64_t limit_us = uint64_t{limits_.reassembly_timeout_ms} * 1000;
  for (EngineChannel* ch : channels_)
    ch->end_stalled_reassemblies_st<RemoteFlow>(now_us_, limit_us, [this](RemoteFlow& f) {
      bump(counters_.reassembly_timeouts);
      f.flow.abort(transport::FlowError::kStalled, true);  // leaves ch->reassembling
    });
}

void Engine::log_limits_st() {
  if (now_us_ < next_limits_log_us_) return;
  const uint64_t now[5] = {counters_.syn_engine_cap.load(std::memory_order_relaxed),
                           counters_.syn_remote_ip_cap.load(std::memory_order_relaxed),
                           counters_.half_open_timeouts.load(std::memory_order_relaxed),
                           counters_.reassembly_timeouts.load(std::memory_order_relaxed),
                           held_.refused.load(std::memory_order_relaxed)};
  uint64_t d[5], sum = 0;
  for (int i = 0; i < 5; ++i) sum += d[i] = now[i] - limits_logged_[i];
  if (sum == 0) return;
  // The first hit is logged at once, later ones summed over the interval that follows.
  next_limits_log_us_ = now_us_ + kLogEveryUs;
  spdlog::warn("engine {}: since the last such line (at most one per {} s): {} SYN(s) dropped at [limits] max_flows_per_engine ({}), {} at "
               "max_flows_per_remote_ip ({}), {} half-open flow(s) reset after half_open_timeout_ms ({}), {} stalled "
               "message(s) dropped after reassembly_timeout_ms ({}), {} packet(s) not kept at held_packet_buffers_percent "
               "({} buffers held of {}); {} flows now",
               id_, kLogEveryUs / 1'000'000, d[0], limits_.max_flows_per_engine, d[1], limits_.max_flows_per_remote_ip,
               d[2], limits_.half_open_timeout_ms, d[3], limits_.reassembly_timeout_ms, d[4],
               held_.count.load(std::memory_order_relaxed), held_.cap, flows_.size());
  for (int i = 0; i < 5; ++i) limits_logged_[i] = now[i];
}

}  // namespace machnet::engine
