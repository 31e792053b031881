// The engine's loop and its commands: channel registration, listeners and flows.
#include "engine/engine.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include <rte_lcore.h>
#include <spdlog/spdlog.h>

#include "engine/tuning.h"

namespace machnet::engine {
namespace {

uint64_t monotonic_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

Engine::Engine(const EngineConfig& config, uint32_t local_ip)
    : config_(config), local_ip_(local_ip), port_refs_(65536, 0) {
  channels_.reserve(256);
  flows_.reserve(4096);
}

Engine::~Engine() { stop(); }

void Engine::start() {
  stop_ = false;
  thread_ = std::thread([this] { run_st(); });
}

void Engine::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void Engine::execute(Command& cmd) {
  cmd.done.store(0);
  if (!thread_.joinable()) {
    run_command_st(cmd);  // no engine thread (tests, or stopped): run inline
    return;
  }
  while (!commands_.push(&cmd)) std::this_thread::sleep_for(std::chrono::microseconds(50));
  cmd.done.wait(0);
}

bool Engine::poll_commands_st() {
  Command* cmd;
  bool any = false;
  while (commands_.pop(&cmd)) {
    run_command_st(*cmd);
    any = true;
  }
  return any;
}

void Engine::run_command_st(Command& cmd) {
  cmd.error = 0;
  cmd.reason = "";
  switch (cmd.kind) {
    case Command::Kind::kAddChannel: add_channel_st(cmd.channel); break;
    case Command::Kind::kRemoveChannel: remove_channel_st(cmd.channel); break;
    case Command::Kind::kListen: listen_st(cmd); break;
    case Command::Kind::kConnect: connect_st(cmd); break;
    case Command::Kind::kCloseFlow: close_flow_st(cmd); break;
  }
  cmd.done.store(1, std::memory_order_release);
  cmd.done.notify_one();
}

bool Engine::poll_once_st() {
  now_ns_ = monotonic_ns();
  bool work = poll_commands_st();
  if (port_) work |= port_->poll_st(now_ns_ / 1000);
  for (EngineChannel* ch : channels_) {
    work |= reclaim_st(*ch);
    work |= transmit_st(*ch);
  }
  ring_doorbells_st();
  for (EngineChannel* ch : channels_)
    if (ch->stats_dirty) publish_stats_st(*ch);
  loops_.store(loops_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return work;
}

// The loop, as a checklist: commands -> per channel (buffers back, messages out) ->
// doorbells -> counters -> idle policy.
void Engine::run_st() {
  pthread_setname_np(pthread_self(), "machnet-eng0");
  if (!config_.cores.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(config_.cores.front(), &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
      spdlog::warn("engine: cannot pin to CPU {}; running unpinned", config_.cores.front());
  }
  if (port_) {
    // An lcore id gives this thread the mempool's per-core cache.
    if (rte_thread_register() != 0) spdlog::warn("engine: cannot register with DPDK; running without mempool cache");
    port_->announce_st();
  }
  const bool adaptive = config_.polling == Polling::kAdaptive;
  const uint64_t spin_ns = uint64_t{config_.adaptive_spin_us} * 1000;
  const uint64_t max_sleep_ns = uint64_t{config_.adaptive_max_sleep_us} * 1000;
  uint64_t idle_since = 0;
  uint64_t sleep_ns = kFirstSleepNs;
  while (!stop_.load(std::memory_order_relaxed)) {
    const bool work = poll_once_st();

    if (work) {
      idle_since = 0;
      sleep_ns = kFirstSleepNs;
      continue;
    }
    if (!adaptive) {
      cpu_relax();
      continue;
    }
    const uint64_t now = monotonic_ns();
    if (idle_since == 0) idle_since = now;
    if (now - idle_since < spin_ns) {
      cpu_relax();
      continue;
    }
    // Idle for a while: hand the core back in bounded, growing steps.
    std::this_thread::sleep_for(std::chrono::nanoseconds(sleep_ns));
    sleep_ns = std::min(sleep_ns * 2, max_sleep_ns > 0 ? max_sleep_ns : kFirstSleepNs);
  }
}

void Engine::add_channel_st(EngineChannel* ch) { channels_.push_back(ch); }

void Engine::remove_channel_st(EngineChannel* ch) {
  // Messages the application queued before it detached or exited are still delivered (an
  // app that sends and exits at once must not lose its last message); bounded by the ring.
  now_ns_ = monotonic_ns();
  for (uint32_t i = 0; i <= ch->to_daemon.size() / kBurst && transmit_st(*ch); ++i) {
  }
  ring_doorbells_st();
  std::vector<FlowKey> doomed;
  for (auto& [key, ep] : flows_) {
    if (ep.owner == ch) doomed.push_back(key);
  }
  for (const auto& key : doomed) erase_endpoint_st(key);
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    it = it->second == ch ? listeners_.erase(it) : std::next(it);
  }
  std::erase(channels_, ch);
}

// Erases one end; the other end stays (its owner may still hold the flow) but has no peer.
void Engine::erase_endpoint_st(const FlowKey& key) {
  auto it = flows_.find(key);
  if (it == flows_.end()) return;
  const FlowKey peer_key{key.dst_ip, key.src_ip, key.dst_port, key.src_port};
  if (auto p = flows_.find(peer_key); p != flows_.end() && p->second.peer == it->second.owner) p->second.peer = nullptr;
  if (it->second.connector) --port_refs_[key.src_port];
  flows_.erase(it);
}

void Engine::listen_st(Command& cmd) {
  if (cmd.local_ip != local_ip_) {
    cmd.error = EADDRNOTAVAIL;
    cmd.reason = "not this daemon's address";
    return;
  }
  if (cmd.local_port == 0) {
    cmd.error = EINVAL;
    cmd.reason = "port 0 cannot be listened on";
    return;
  }
  auto it = listeners_.find(cmd.local_port);
  if (it != listeners_.end()) {
    if (it->second == cmd.channel) return;  // listening twice is harmless
    cmd.error = EADDRINUSE;
    cmd.reason = "another channel listens on that port";
    return;
  }
  if (port_refs_[cmd.local_port] != 0) {
    cmd.error = EADDRINUSE;
    cmd.reason = "the port is in use by a connected flow";
    return;
  }
  listeners_.emplace(cmd.local_port, cmd.channel);
}

void Engine::connect_st(Command& cmd) {
  if (cmd.local_ip != local_ip_) {
    cmd.error = EADDRNOTAVAIL;
    cmd.reason = "local_ip is not this daemon's address";
    return;
  }
  if (cmd.remote_ip != local_ip_) {
    // No NIC yet: only this daemon's own address is reachable.
    cmd.error = ENETUNREACH;
    cmd.reason = "remote address not reachable: this daemon has no network, only local delivery";
    return;
  }
  auto l = listeners_.find(cmd.remote_port);
  if (l == listeners_.end()) {
    cmd.error = ECONNREFUSED;
    cmd.reason = "nobody listens on that port";
    return;
  }
  // An ephemeral port no live flow and no listener uses.
  uint16_t port = 0;
  for (uint32_t tries = 0; tries < 65536u - kFirstEphemeral; ++tries) {
    const uint16_t p = next_ephemeral_;
    next_ephemeral_ = next_ephemeral_ == 65535 ? kFirstEphemeral : next_ephemeral_ + 1;
    if (port_refs_[p] == 0 && !listeners_.contains(p)) {
      port = p;
      break;
    }
  }
  if (port == 0) {
    cmd.error = EMFILE;
    cmd.reason = "no free ephemeral port";
    return;
  }
  const FlowKey mine{local_ip_, cmd.remote_ip, port, cmd.remote_port};
  const FlowKey theirs{cmd.remote_ip, local_ip_, cmd.remote_port, port};
  erase_endpoint_st(theirs);  // a stale, peerless end left over from an earlier flow
  flows_[mine] = Endpoint{cmd.channel, l->second, true};
  flows_[theirs] = Endpoint{l->second, cmd.channel, false};
  ++port_refs_[port];
  cmd.flow = channel::CtlFlow{mine.src_ip, mine.dst_ip, mine.src_port, mine.dst_port};
}

void Engine::close_flow_st(Command& cmd) {
  const FlowKey as_sent{cmd.flow.src_ip, cmd.flow.dst_ip, cmd.flow.src_port, cmd.flow.dst_port};
  const FlowKey swapped{cmd.flow.dst_ip, cmd.flow.src_ip, cmd.flow.dst_port, cmd.flow.src_port};
  for (const FlowKey& key : {as_sent, swapped}) {
    auto it = flows_.find(key);
    if (it != flows_.end() && it->second.owner == cmd.channel) {
      const FlowKey peer_key{key.dst_ip, key.src_ip, key.dst_port, key.src_port};
      auto p = flows_.find(peer_key);
      const bool peer_live = p != flows_.end() && p->second.peer == cmd.channel;
      erase_endpoint_st(key);
      if (peer_live) erase_endpoint_st(peer_key);  // both ends stop
      return;
    }
  }
  cmd.error = ENOENT;
  cmd.reason = "no such flow on this channel";
}

}  // namespace machnet::engine
