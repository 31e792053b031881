// The engine's loop and its commands: channel registration, listeners and flows.
#include "engine/engine.h"

#include <poll.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/eventfd.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <chrono>

#include <rte_cycles.h>
#include <rte_lcore.h>
#include <spdlog/spdlog.h>

#include "engine/tuning.h"

namespace machnet::engine {
namespace {

uint64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The engine's clock: the TSC once DPDK measured its frequency (a few cycles a read),
// else the vDSO clock (tens of nanoseconds: a tenth of a busy engine's time was spent
// there). Anchored to the steady clock, so both agree; read by the engine thread only.
struct TscClock {
  double ns_per_tick = 0;
  uint64_t tsc0 = 0, ns0 = 0;
} g_tsc;

uint64_t monotonic_ns() {
  if (g_tsc.ns_per_tick == 0) return steady_ns();
  return g_tsc.ns0 + static_cast<uint64_t>(static_cast<double>(rte_rdtsc() - g_tsc.tsc0) * g_tsc.ns_per_tick);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

}  // namespace

Engine::Engine(const EngineConfig& config, const TransportConfig& transport, uint32_t max_message_bytes,
               uint32_t local_ip)
    : config_(config),
      transport_(transport),
      max_message_bytes_(max_message_bytes),
      local_ip_(local_ip),
      port_refs_(65536, 0),
      wheel_(monotonic_ns() / 1000),
      rng_(std::random_device{}()) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) spdlog::warn("engine: no wake-up eventfd ({}); idle sleeps end only by their timeout", std::strerror(errno));
  channels_.reserve(256);
  flows_.reserve(4096);
  remote_.reserve(4096);
  dirty_.reserve(1024);
  dirty_next_.reserve(1024);
  flow_params_.cc.algorithm =
      transport.congestion_control == CongestionControl::kFixed ? transport::CcAlgorithm::kFixed : transport::CcAlgorithm::kSwift;
  flow_params_.cc.initial_window = transport.initial_window;
  flow_params_.cc.min_window = transport.min_window;
  flow_params_.cc.max_window = transport.max_window;
  flow_params_.cc.target_delay_us = transport.target_delay_us;
  flow_params_.rto_min_us = transport.rto_min_us;
  flow_params_.rto_max_us = transport.rto_max_us;
  flow_params_.initial_rto_us = std::clamp<uint32_t>(10'000, transport.rto_min_us, transport.rto_max_us);
  flow_params_.max_retransmits = transport.max_retransmits;
  flow_params_.connect_timeout_us = transport.connect_timeout_ms * 1000;
  flow_params_.max_message_bytes = max_message_bytes;
  flow_params_.mss = static_cast<uint32_t>(net::payload_per_packet(transport.mtu));
}

Engine::~Engine() {
  stop();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void Engine::attach_port(PortIo* port) {
  port_ = port;
  port_->set_sink(this);
  // The port may cap the MTU below the configured one.
  flow_params_.mss = static_cast<uint32_t>(net::payload_per_packet(std::min(transport_.mtu, port->mtu())));
}

void Engine::start() {
  if (port_ && rte_get_tsc_hz() > 0 && g_tsc.ns_per_tick == 0) {
    g_tsc.tsc0 = rte_rdtsc();
    g_tsc.ns0 = steady_ns();
    g_tsc.ns_per_tick = 1e9 / static_cast<double>(rte_get_tsc_hz());
  }
  stop_ = false;
  thread_ = std::thread([this] { run_st(); });
}

void Engine::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  // Flows end with the engine: peers hear a reset, waiting connects an error.
  std::vector<RemoteFlow*> all;
  for (auto& [key, f] : remote_) all.push_back(f.get());
  for (RemoteFlow* f : all) f->flow.abort(transport::FlowError::kLocalAbort, true);
  if (port_) port_->flush_tx_st();
  reap_flows_st();
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

void Engine::submit(Command& cmd) {
  cmd.done.store(0);
  if (!thread_.joinable()) {
    run_command_st(cmd);
    return;
  }
  while (!commands_.push(&cmd)) std::this_thread::sleep_for(std::chrono::microseconds(50));
}

// A command is answered once: its waiter (execute) wakes, its callback (submit) runs.
void Engine::complete_st(Command& cmd) {
  auto on_done = std::move(cmd.on_done);
  cmd.done.store(1, std::memory_order_release);
  cmd.done.notify_one();
  if (on_done) on_done();  // may free cmd: nothing touches it after this
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
  cmd.reason.clear();
  now_ns_ = monotonic_ns();
  now_us_ = now_ns_ / 1000;
  switch (cmd.kind) {
    case Command::Kind::kAddChannel: add_channel_st(cmd.channel); break;
    case Command::Kind::kRemoveChannel: remove_channel_st(cmd.channel); break;
    case Command::Kind::kListen: listen_st(cmd); break;
    case Command::Kind::kConnect:
      connect_st(cmd);
      return;  // completes itself, maybe later (the handshake)
    case Command::Kind::kCloseFlow: close_flow_st(cmd); break;
    case Command::Kind::kFlows: flow_rows_st(*cmd.flows_out); break;
    case Command::Kind::kArp:
      *cmd.arp_out = port_ ? port_->arp_snapshot_st(now_us_) : admin::ArpSnapshot{};
      break;
  }
  complete_st(cmd);
}

bool Engine::poll_once_st() {
  now_ns_ = monotonic_ns();
  now_us_ = now_ns_ / 1000;
  bool work = poll_commands_st();
  if (port_) {
    work |= port_->poll_st(now_us_);  // received packets reach their flows (on_machnet_st)
    wheel_.advance(now_us_, [this](transport::TimerWheel::Timer& t) {
      auto* f = static_cast<transport::Flow*>(t.owner);
      f->on_timer(now_us_);
      // What the timer could not send (no mbuf), or marked lost, goes on the next round.
      if (auto* rf = static_cast<RemoteFlow*>(f->user())) mark_dirty_st(*rf);
    });
    if (now_us_ >= next_arp_tick_us_) {
      next_arp_tick_us_ = now_us_ + 10'000;
      port_->arp_tick_st(now_us_);
      check_arp_waiters_st();
    }
  }
  for (EngineChannel* ch : channels_) {
    if (reclaim_st(*ch) > 0) work = true;
    // Room may also have come from reclaims elsewhere this iteration or from a discarded
    // reassembly: whatever made it, flows waiting for it go on.
    if (ch->room_changed) {
      ch->room_changed = false;
      if (!ch->blocked_flows.empty()) wake_blocked_st(*ch);
    }
    work |= transmit_st(*ch);
  }
  if (port_) {
    work |= !dirty_.empty();
    pump_flows_st();
    port_->flush_tx_st();
    reap_flows_st();
  }
  ring_doorbells_st();
  for (EngineChannel* ch : channels_)
    if (ch->stats_dirty) publish_stats_st(*ch);
  loops_.store(loops_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (work) busy_loops_.store(busy_loops_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return work;
}

// The loop, as a checklist: commands -> receive burst (packets to flows) -> timers ->
// per channel (buffers back, messages out) -> flows transmit -> doorbells -> counters ->
// idle policy.
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
  const uint64_t yield_ns = uint64_t{config_.adaptive_yield_us} * 1000;
  const uint64_t max_sleep_ns = uint64_t{config_.adaptive_max_sleep_us} * 1000;
  // Our sleeps are short and their length matters: without this the kernel may stretch
  // each by its default 50 us of timer slack.
  if (adaptive) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  uint64_t idle_since = 0, last_work = 0;
  uint64_t sleep_ns = kFirstSleepNs;
  while (!stop_.load(std::memory_order_relaxed)) {
    const bool work = poll_once_st();

    if (work) {
      idle_since = 0;
      last_work = now_ns_;
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
    // Soon after the last work (a conversation: the reply, the next request) keep polling
    // but let any runnable thread have the core first. On a small VM the applications and
    // the peer daemon share our cores: a yield gives them the core as a sleep would, but
    // costs no timer and no wake-up, and the next packet from the port (which has no
    // doorbell) is seen at once. Measured on 2 vCPUs, memif, 1 KB: window 32 about 1.5x
    // the msgs/s, window 1 p50 about -25 %, less daemon CPU per message (docs/PERFORMANCE.md).
    if (now - last_work < yield_ns) {
      sched_yield();
      continue;
    }
    // Idle for a while: hand the core back in bounded, growing steps. While flows wait for
    // acknowledgements the steps stay short (an ACK is due within an RTT and every
    // microsecond asleep adds to it), but they are still sleeps: on a small VM an engine
    // that spins through its peers' round trips steals the core they need to answer.
    // The steps also stay short for a while after the last work: in a conversation the
    // next packet (the reply, the next request) comes from the port, which cannot wake us.
    idle_sleep_st(sleep_ns);
    if (awaiting_acks_st() || now - last_work < kConversationNs) sleep_ns = kFirstSleepNs;
    else sleep_ns = std::min(sleep_ns * 2, max_sleep_ns > 0 ? max_sleep_ns : kFirstSleepNs);
  }
}

// Sleeps up to sleep_ns, or until an application queues a message. Pairs with the
// library's wake_engine(): we announce the sleep in every channel, then look at the rings
// once more (both seq_cst), so a message queued meanwhile is either seen here or rings.
void Engine::idle_sleep_st(uint64_t sleep_ns) {
  auto announce = [this](uint32_t v) {
    for (EngineChannel* ch : channels_)
      std::atomic_ref<uint32_t>(ch->view.header()->engine_sleeping).store(v, std::memory_order_seq_cst);
  };
  if (wake_fd_ < 0) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(sleep_ns));
    return;
  }
  announce(1);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  for (EngineChannel* ch : channels_) {
    if (ch->to_daemon.available(1) > 0) {
      announce(0);
      return;
    }
  }
  pollfd p{wake_fd_, POLLIN, 0};
  const timespec ts{static_cast<time_t>(sleep_ns / 1'000'000'000), static_cast<long>(sleep_ns % 1'000'000'000)};
  if (::ppoll(&p, 1, &ts, nullptr) > 0) {
    uint64_t count;
    [[maybe_unused]] ssize_t r = ::read(wake_fd_, &count, sizeof(count));
  }
  announce(0);
}

bool Engine::awaiting_acks_st() const {
  for (const auto& [key, f] : remote_)
    if (f->flow.inflight() > 0 || f->flow.queued_messages() > 0) return true;
  return false;
}

// The application read and gave buffers back: flows that waited for room go on.
void Engine::wake_blocked_st(EngineChannel& ch) {
  waking_.swap(ch.blocked_flows);  // a flow still short of room puts itself back
  for (RemoteFlow* f : waking_) {
    f->blocked_listed = false;
    if (f->ended) continue;
    f->flow.on_rx_room(now_us_);
    mark_dirty_st(*f);
  }
  waking_.clear();  // keeps its capacity: no allocation on the next wake
}

void Engine::add_channel_st(EngineChannel* ch) { channels_.push_back(ch); }

void Engine::remove_channel_st(EngineChannel* ch) {
  // Messages the application queued before it detached or exited are still delivered
  // locally (an app that sends and exits at once must not lose its last message); bounded
  // by the ring.
  for (uint32_t i = 0; i <= ch->to_daemon.size() / kBurst && transmit_st(*ch); ++i) {
  }
  ring_doorbells_st();
  // Its flows to other machines close in order: what the application sent before it left
  // still reaches the peer (copied out of the channel's memory, which goes away), then a
  // FIN. A connect under way fails.
  std::vector<RemoteFlow*> doomed_remote;
  for (auto& [key, f] : remote_)
    if (f->owner == ch) doomed_remote.push_back(f.get());
  for (RemoteFlow* f : doomed_remote) {
    if (f->flow.state() == transport::FlowState::kSynSent || f->arp_deadline_us) {
      // A RST only if a SYN went out (not while ARP was still resolving: no MAC to send to).
      f->flow.abort(transport::FlowError::kLocalAbort, !f->arp_deadline_us && f->flow.state() == transport::FlowState::kSynSent);
    } else {
      f->orphan_st(now_us_);
      mark_dirty_st(*f);
    }
  }
  if (port_) port_->flush_tx_st();
  reap_flows_st();
  ch->blocked_flows.clear();
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

// An ephemeral port no live flow and no listener uses; 0 when all are taken.
uint16_t Engine::ephemeral_port_st() {
  for (uint32_t tries = 0; tries < 65536u - kFirstEphemeral; ++tries) {
    const uint16_t p = next_ephemeral_;
    next_ephemeral_ = next_ephemeral_ == 65535 ? kFirstEphemeral : next_ephemeral_ + 1;
    if (port_refs_[p] == 0 && !listeners_.contains(p)) return p;
  }
  return 0;
}

void Engine::connect_st(Command& cmd) {
  if (cmd.local_ip != local_ip_) {
    cmd.error = EADDRNOTAVAIL;
    cmd.reason = "local_ip is not this daemon's address";
    return complete_st(cmd);
  }
  if (cmd.remote_ip != local_ip_) return connect_remote_st(cmd);
  auto l = listeners_.find(cmd.remote_port);
  if (l == listeners_.end()) {
    cmd.error = ECONNREFUSED;
    cmd.reason = "nobody listens on that port";
    return complete_st(cmd);
  }
  const uint16_t port = ephemeral_port_st();
  if (port == 0) {
    cmd.error = EMFILE;
    cmd.reason = "no free ephemeral port";
    return complete_st(cmd);
  }
  const FlowKey mine{local_ip_, cmd.remote_ip, port, cmd.remote_port};
  const FlowKey theirs{cmd.remote_ip, local_ip_, cmd.remote_port, port};
  erase_endpoint_st(theirs);  // a stale, peerless end left over from an earlier flow
  flows_[mine] = Endpoint{cmd.channel, l->second, true};
  flows_[theirs] = Endpoint{l->second, cmd.channel, false};
  ++port_refs_[port];
  cmd.flow = channel::CtlFlow{mine.src_ip, mine.dst_ip, mine.src_port, mine.dst_port};
  complete_st(cmd);
}

void Engine::close_flow_st(Command& cmd) {
  const FlowKey as_sent{cmd.flow.src_ip, cmd.flow.dst_ip, cmd.flow.src_port, cmd.flow.dst_port};
  const FlowKey swapped{cmd.flow.dst_ip, cmd.flow.src_ip, cmd.flow.dst_port, cmd.flow.src_port};
  for (const FlowKey& key : {as_sent, swapped}) {
    auto r = remote_.find(key);
    if (r != remote_.end() && r->second->owner == cmd.channel) {
      r->second->flow.close(now_us_);  // orderly: what is queued still goes, then a FIN
      mark_dirty_st(*r->second);
      return;
    }
  }
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
