// The engine's thread: its loop, as a checklist, and its idle policy.
#include "engine/engine.h"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <spdlog/spdlog.h>

#include "channel/doorbell_socket.h"
#include "engine/tuning.h"
#include "transport/configured_params.h"

namespace machnet::engine {
namespace {

uint64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The engines' clock: the TSC once DPDK measured its frequency (a few cycles a read),
// else the vDSO clock (tens of nanoseconds: a tenth of a busy engine's time was spent
// there). Anchored to the steady clock, so both agree. Set once, before any engine starts.
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

Engine::Engine(uint32_t id, int core, EngineShared& shared, const EngineConfig& config,
               const TransportConfig& transport, uint32_t max_message_bytes, uint32_t local_ip,
               const LimitsConfig& limits)
    : id_(id),
      core_(core),
      shared_(shared),
      config_(config),
      transport_(transport),
      max_message_bytes_(max_message_bytes),
      local_ip_(local_ip),
      limits_(limits),
      flow_params_(transport::configured_params(transport, max_message_bytes)),
      wheel_(monotonic_ns() / 1000),
      flow_context_{nullptr, tx_records_, *this, wheel_, flow_params_, &held_, &now_us_},
      port_uses_(65536, 0),
      port_charges_(65536),
      rng_(std::random_device{}()) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) spdlog::warn("engine {}: no epoll descriptor ({}); idle sleeps end only by their timeout", id_, std::strerror(errno));
  channels_.reserve(256);
  dirty_.reserve(1024);
  dirty_next_.reserve(1024);
  steer_out_.reserve(256);
  batch_.reserve(256);
  steer_out_engine_.reserve(64);
}

Engine::~Engine() {
  stop();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

void Engine::attach_port(PortIo* port) {
  port_ = port;
  port_->set_sink(this);
  flow_context_.port = port;
  held_.cap = port->held_buffer_share(limits_.held_packet_buffers_percent);
  // The MTU the port runs at: [transport] mtu, resolved ("auto") and capped at start.
  flow_params_.mss = static_cast<uint32_t>(net::payload_per_packet(port->mtu()));
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
  flows_.for_each_remote([&](RemoteFlow& f) { all.push_back(&f); });
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

// One iteration, as a checklist: commands -> receive burst and demultiplex (packets to
// flows, or to the engine that owns them) -> frames other engines handed us -> timers ->
// per channel (buffers back, messages out) -> flows transmit -> port TX -> doorbells ->
// counters.
uint64_t Engine::clock_ns() { return monotonic_ns(); }

bool Engine::poll_once_st() {
  now_ns_ = monotonic_ns();
  now_us_ = now_ns_ / 1000;
  bool work = poll_commands_st();
  if (port_) {
    work |= port_->poll_st(now_us_);  // packets reach their flows (on_machnet_st)
    steer_flush_st();
    work |= receive_steered_st();
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
      expire_stalled_reassembly_st();
      expire_half_open_st();  // and logs the [limits] hit since the last line
    }
  }
  for (EngineChannel* ch : channels_) {
    if (ch->reclaim_st() > 0) work = true;
    // Room may also have come from reclaims elsewhere this iteration or from a discarded
    // reassembly: whatever made it, flows waiting for it go on.
    if (ch->room_changed) {
      ch->room_changed = false;
      if (!ch->blocked_flows.empty()) wake_blocked_st(*ch);
    }
    // Once a stopping engine closed its flows, nothing new is taken (graceful_stop.cc).
    if (stop_phase_ <= StopPhase::kDraining) work |= take_from_app_st(*ch);
  }
  if (port_) {
    if (!held_acks_.empty()) release_held_acks_st();
    work |= !dirty_.empty();
    pump_flows_st();
    port_->flush_tx_st();
    steer_flush_st();  // what flows between two of our engines sent
    reap_flows_st();
  }
  if (stop_requested_.load(std::memory_order_acquire)) [[unlikely]] work |= stop_tick_st();
  ring_doorbells_st();
  for (EngineChannel* ch : channels_)
    if (ch->stats_dirty) ch->publish_stats_st();
  bump(counters_.loops);
  if (work) bump(counters_.busy_loops);
  return work;
}

// Frames this engine received for flows another engine owns, sent on in one burst per
// destination.
void Engine::steer_flush_st() {
  if (steer_out_.empty()) return;
  const uint32_t n = static_cast<uint32_t>(steer_out_.size());
  std::vector<rte_mbuf*>& frames = steer_out_;
  for (uint32_t to = 0; to < shared_.steering->engines(); ++to) {
    batch_.clear();
    for (uint32_t i = 0; i < n; ++i)
      if (steer_out_engine_[i] == to) batch_.push_back(frames[i]);
    const uint32_t k = static_cast<uint32_t>(batch_.size());
    rte_mbuf** batch = batch_.data();
    if (k == 0) continue;
    const uint32_t sent = shared_.steering->send(id_, to, batch, k);
    bump(counters_.steered_out, sent);
    if (sent < k) {
      bump(counters_.steer_drops, k - sent);
      for (uint32_t i = sent; i < k; ++i) rte_pktmbuf_free(batch[i]);
    }
  }
  steer_out_.clear();
  steer_out_engine_.clear();
}

// A flow between two engines of this daemon: its frames go straight to the engine that
// owns the destination port, through the steering rings, as if the wire had brought them.
void Engine::on_loopback_st(rte_mbuf* m) {
  bump(counters_.loopback);
  const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint16_t dst_port = static_cast<uint16_t>(d[36] << 8 | d[37]);
  const int owner = shared_.ports.owner(dst_port);
  if (!shared_.steering || owner == PortDirectory::kNobody || owner == static_cast<int>(id_)) {
    // Ours (a reset to our own unknown port, say): received on the next iteration, not
    // now, so that answering cannot recurse.
    if (loopback_self_.size() < 1024) loopback_self_.push_back(m);
    else rte_pktmbuf_free(m);
    return;
  }
  steer_st(m, owner);
}

bool Engine::receive_steered_st() {
  if (!loopback_self_.empty()) {
    loopback_now_.swap(loopback_self_);  // answering may queue more: those wait a round
    for (rte_mbuf* m : loopback_now_) port_->handle_steered_st(m, now_us_);
    loopback_now_.clear();
  }
  if (!shared_.steering) return false;
  rte_mbuf* frames[32];
  const uint32_t n = shared_.steering->receive(id_, frames, 32);
  if (n == 0) return false;
  bump(counters_.steered_in, n);
  for (uint32_t i = 0; i < n; ++i) port_->handle_steered_st(frames[i], now_us_);
  return true;
}

void Engine::pin_st() {
  pthread_setname_np(pthread_self(), fmt::format("machnet-eng{}", id_).c_str());
  if (core_ < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(core_, &set);
  if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
    spdlog::warn("engine {}: cannot pin to CPU {}; running unpinned", id_, core_);
}

void Engine::publish_counts_st() {
  counters_.flows.store(static_cast<uint32_t>(flows_.size()), std::memory_order_relaxed);
  counters_.channels.store(static_cast<uint32_t>(channels_.size()), std::memory_order_relaxed);
}

void Engine::run_st() {
  pin_st();
  if (port_) {
    // An lcore id gives this thread the mempool's per-core cache.
    if (rte_thread_register() != 0) spdlog::warn("engine {}: cannot register with DPDK; running without mempool cache", id_);
    if (id_ == 0) port_->announce_st();
  }
  const bool adaptive = config_.polling == Polling::kAdaptive;
  const uint64_t spin_ns = uint64_t{config_.adaptive_spin_us} * 1000;
  const uint64_t yield_ns = uint64_t{config_.adaptive_yield_us} * 1000;
  const uint64_t max_sleep_ns = uint64_t{config_.adaptive_max_sleep_us} * 1000;
  // Our sleeps are short and their length matters: without this the kernel may stretch
  // each by its default 50 us of timer slack.
  if (adaptive) prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  uint64_t idle_since = 0, last_work = 0;
  bool spinning = false;  // this idle spell is a spin (SpinPolicy said so) that has not ended
  uint64_t sleep_ns = kFirstSleepNs;
  while (!stop_.load(std::memory_order_relaxed)) {
    const bool work = poll_once_st();

    if (work) {
      if (spinning) {
        spin_policy_.caught();
        bump(counters_.spins_caught);
      }
      spinning = false;
      idle_since = 0;
      last_work = now_ns_;
      sleep_ns = kFirstSleepNs;
      continue;
    }
    const uint64_t now = monotonic_ns();
    if (idle_since == 0) {
      idle_since = now;
      spinning = spin_ns > 0 && spin_policy_.start_spell();
    }
    // Nothing to do: keep polling for a moment without giving the core away, unless an
    // application has messages it has not read yet (then it needs the core now). On a
    // small VM the application beside us has nothing to do either until the port brings
    // the next packet, and every yield to it there costs two context switches for nothing:
    // they were most of the CPU of a 1 KB request-reply (docs/PERFORMANCE.md, issue 13).
    // SpinPolicy stops the spins where they keep running out (spin_policy.h).
    if (spinning) {
      if (now - idle_since >= spin_ns) {
        spin_policy_.expired();
        bump(counters_.spins_expired);
        spinning = false;
      } else if (apps_have_unread_st()) {
        spinning = false;
      } else {
        cpu_relax();
        continue;
      }
    }
    // Busy polling never sleeps, but a loop that keeps finding nothing lets any runnable
    // thread have the core first. On a dedicated core sched_yield returns at once (nothing
    // else is runnable); on shared cores (a small VM: the apps, the control thread, a peer
    // daemon) they run now instead of at the end of our time slice. Without it two busy
    // engines on two shared vCPUs carried 263 msg/s, or starved the control thread so long
    // that the daemon did not answer its admin socket within 60 s.
    if (!adaptive) {
      sched_yield();
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
  if (epoll_fd_ < 0) {
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
  // ppoll on the epoll descriptor for its nanosecond timeout (epoll_wait counts in ms).
  pollfd p{epoll_fd_, POLLIN, 0};
  const timespec ts{static_cast<time_t>(sleep_ns / 1'000'000'000), static_cast<long>(sleep_ns % 1'000'000'000)};
  if (::ppoll(&p, 1, &ts, nullptr) > 0) drain_doorbells_st();
  announce(0);
}

// Reads the rings of the channels whose doorbell woke us. A doorbell whose application end
// is gone (EOF, error) would keep the level-triggered set ready for good: it leaves the
// set; that channel's app is no longer heard while we sleep (its messages wait for the
// next poll, at most one sleep step), everyone else's doorbells are untouched.
void Engine::drain_doorbells_st() {
  epoll_event ready[32];
  const int n = ::epoll_wait(epoll_fd_, ready, 32, 0);
  for (int i = 0; i < n; ++i) {
    auto* ch = static_cast<EngineChannel*>(ready[i].data.ptr);
    const channel::DoorbellDrain d = channel::doorbell_drain(ch->doorbell_fd);
    if (d.closed || (ready[i].events & (EPOLLHUP | EPOLLERR))) unwatch_doorbell_st(*ch);
  }
}

void Engine::watch_doorbell_st(EngineChannel& ch) {
  if (epoll_fd_ < 0 || ch.doorbell_fd < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &ch;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, ch.doorbell_fd, &ev) == 0) ch.doorbell_watched = true;
  else spdlog::warn("engine {}: channel {}: cannot watch its doorbell ({}); it is polled only", id_, ch.id, std::strerror(errno));
}

void Engine::unwatch_doorbell_st(EngineChannel& ch) {
  if (!ch.doorbell_watched) return;
  ch.doorbell_watched = false;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, ch.doorbell_fd, nullptr);
}

// A count kept as flows are pumped and end (set_awaiting_st), and the list of held ACKs,
// not a walk over every flow: an idle loop must cost the same with ten flows or ten thousand.
bool Engine::awaiting_acks_st() const { return awaiting_ > 0 || !held_acks_.empty(); }

}  // namespace machnet::engine
