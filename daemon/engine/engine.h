// An engine: one thread, pinned to one core, that owns one queue pair of the port, its
// channels and its flows, and moves messages between them. A message on a flow whose other
// end is a channel of this daemon is copied straight into that channel (local delivery); a
// flow to another machine goes through the transport (transport/flow.h) and the port
// (port_io.h). Several engines share nothing on the per-packet path: a packet that reached
// the wrong engine goes to its owner through the steering rings (steering.h).
//
// Threading: the public methods without _st run on the control thread and talk to the engine
// only through the command queue; methods ending in _st run on the engine thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "admin/snapshots.h"
#include "channel/control_protocol.h"
#include "config/config.h"
#include "engine/command_queue.h"
#include "engine/engine_channel.h"
#include "engine/flow_key.h"
#include "engine/flow_table.h"
#include "shm/chain_validator.h"
#include "engine/port_directory.h"
#include "engine/port_io.h"
#include "engine/remote_flow.h"
#include "engine/rss.h"
#include "engine/spin_policy.h"
#include "engine/steering.h"
#include "engine/tx_record_pool.h"
#include "engine/user_ports.h"
#include "transport/timer_wheel.h"
#include "util/result.h"

namespace machnet::engine {

// How long the control thread waits for an engine's answer to a command (they come between
// bursts, in microseconds): past it the request fails, naming the engine, and the control
// thread goes on serving everyone else.
inline constexpr std::chrono::milliseconds kCommandDeadline{1000};

struct Command {
  enum class Kind { kAddChannel, kRemoveChannel, kListen, kConnect, kCloseFlow, kFlows, kArp };
  Kind kind;
  EngineChannel* channel = nullptr;
  uint32_t local_ip = 0, remote_ip = 0;
  uint16_t local_port = 0, remote_port = 0;
  channel::CtlFlow flow{};
  std::vector<admin::FlowRow>* flows_out = nullptr;  // kFlows: the answer (rows appended)
  admin::ArpSnapshot* arp_out = nullptr;             // kArp: the answer
  // Called on the engine thread when the command completes, for commands submitted with
  // submit() (a connect across the network completes after its handshake).
  std::function<void()> on_done{};
  // Answer, valid once done != 0.
  int error = 0;
  std::string reason{};
  std::atomic<uint32_t> done{0};
};

// What the engines of one daemon share: set up before they start, then read-mostly.
struct EngineShared {
  PortDirectory ports;                       // which engine holds each local UDP port
  std::unique_ptr<Steering> steering;        // null with one engine
  std::optional<RssSteering> rss;            // set when the port spreads by RSS over several queues
  UserPorts user_ports;                      // [limits] ports per user, over all engines
};

// Counters any thread may read; the engine writes them (relaxed).
struct EngineCounters {
  std::atomic<uint64_t> loops{0}, busy_loops{0};
  std::atomic<uint64_t> steered_out{0}, steered_in{0}, steer_drops{0};
  std::atomic<uint64_t> loopback{0};  // frames of flows between two engines of this daemon
  // Idle spells that began with a spin (spin_policy.h): the next work came within it, or not.
  std::atomic<uint64_t> spins_caught{0}, spins_expired{0};
  std::atomic<uint32_t> flows{0}, channels{0};
  // [limits] hit (flow_limits.cc): SYNs dropped at each flow cap, half-open flows reset.
  std::atomic<uint64_t> syn_engine_cap{0}, syn_remote_ip_cap{0}, half_open_timeouts{0};
  std::atomic<uint64_t> reassembly_timeouts{0};  // stalled messages dropped, their flows reset
};

class Engine final : public PortSink, public FlowEvents {
 public:
  // Engine `id` (its queue on the port), pinned to `core` (-1: not pinned).
  Engine(uint32_t id, int core, EngineShared& shared, const EngineConfig& config, const TransportConfig& transport,
         uint32_t max_message_bytes, uint32_t local_ip, const LimitsConfig& limits = {});
  ~Engine() override;

  // Gives the engine its queue of the port (ARP, ping, Machnet packets). Before start().
  void attach_port(PortIo* port);

  void start();
  void stop();  // joins; flows end, channels still registered are forgotten (the caller owns them)

  // Graceful stop (graceful_stop.cc; docs/wire-protocol.md "Stop"). begin_stop: take no
  // new messages (machnet_send refuses), let flows deliver what they accepted for up to
  // `drain`, then close them (FIN when all was delivered, RST otherwise) and tell each
  // application. stop_drained: that is done. Control thread; the engine does the work
  // between bursts.
  void begin_stop(std::chrono::milliseconds drain);
  bool stop_drained() const { return stop_done_.load(std::memory_order_acquire); }

  // Runs `cmd` on the engine thread and waits for it. Control thread only.
  void execute(Command& cmd);
  // As execute(), but waits at most `deadline`: an engine that does not answer (stuck, or
  // its command queue full) is an error naming it, and the control thread goes on. The
  // engine keeps `cmd` (hence the shared_ptr: its outputs must live in the same object)
  // and may still run it later. Control thread only (commands.cc).
  Result<void> execute_within(std::shared_ptr<Command> cmd, std::chrono::milliseconds deadline);
  // Hands `cmd` to the engine thread without waiting; cmd.on_done runs (on the engine
  // thread) when it completes. `cmd` must live until then.
  void submit(Command& cmd);

  // One loop iteration without the thread, for tests that drive the engine by hand.
  bool poll_once_st();

  uint32_t id() const { return id_; }
  int core() const { return core_; }
  uint32_t local_ip() const { return local_ip_; }
  bool running() const { return thread_.joinable(); }
  const EngineCounters& counters() const { return counters_; }
  // Packet buffers this engine's flows hold, its cap and the packets refused at it.
  const HeldBuffers& held_buffers() const { return held_; }
  uint64_t loops() const { return counters_.loops.load(std::memory_order_relaxed); }
  uint64_t busy_loops() const { return counters_.busy_loops.load(std::memory_order_relaxed); }

  // PortSink (engine thread).
  bool on_machnet_st(rte_mbuf* m, const net::MachnetPacketInfo& p, bool steered) override;
  void on_loopback_st(rte_mbuf* m) override;
  void on_arp_resolved_st(Ipv4Address ip, const MacAddress& mac) override;
  void on_arp_failed_st(Ipv4Address ip) override;
  // FlowEvents (engine thread).
  void flow_established_st(RemoteFlow& f) override;
  void flow_ended_st(RemoteFlow& f, transport::FlowError why) override;

 private:
  // The loop and its idle policy (engine.cc).
  static uint64_t clock_ns();  // the engines' clock: the TSC once DPDK is up
  void run_st();
  void pin_st();
  void idle_sleep_st(uint64_t sleep_ns);
  void drain_doorbells_st();
  void watch_doorbell_st(EngineChannel& ch);
  void unwatch_doorbell_st(EngineChannel& ch);
  bool awaiting_acks_st() const;
  bool receive_steered_st();
  void steer_st(rte_mbuf* m, int owner) {  // to engine `owner`, after this burst (steer_flush_st)
    steer_out_.push_back(m);
    steer_out_engine_.push_back(static_cast<uint32_t>(owner));
  }
  void steer_flush_st();
  void publish_counts_st();

  // Graceful stop, one step per loop iteration while stopping (graceful_stop.cc).
  bool stop_tick_st();
  void close_intake_st();
  bool drained_st() const;
  void close_drained_st();
  void finish_stop_st();
  int stop_errno_st(const RemoteFlow& f, transport::FlowError why) const;
  bool stopping_st() const { return stop_phase_ != StopPhase::kRunning; }

  // Commands (commands.cc).
  bool poll_commands_st();
  void run_command_st(Command& cmd);
  void complete_st(Command& cmd);
  void add_channel_st(EngineChannel* ch);
  void remove_channel_st(EngineChannel* ch);
  void listen_st(Command& cmd);
  void connect_st(Command& cmd);
  void connect_local_st(Command& cmd);
  void connect_remote_st(Command& cmd);
  void close_flow_st(Command& cmd);
  void flow_rows_st(std::vector<admin::FlowRow>& out);

  // Local ports (commands.cc): taken in the shared directory on first use, given back on last.
  bool take_port_st(uint16_t port);
  void give_back_port_st(uint16_t port);
  uint16_t ephemeral_port_st(uint32_t remote_ip, uint16_t remote_port);
  // Charges a port just taken to its user ([limits] per user; released with the port's
  // last use). False past the user's cap, and the port is given back.
  bool charge_port_st(uint16_t port, const EngineChannel* ch, UserPorts::Kind kind);
  std::string ephemeral_quota_reason() const;
  // Removes a local end; the other end stays (its owner may still hold the flow), peerless.
  void erase_local_end_st(const FlowKey& key);

  // Channels: messages from apps, local delivery, doorbells (local_delivery.cc).
  bool take_from_app_st(EngineChannel& ch);
  enum class Outcome { kDelivered, kDropped, kHold };
  Outcome route_message_st(EngineChannel& src, uint32_t head);
  Outcome deliver_local_st(EngineChannel& src, const FlowEntry& e, const shm::CheckedMessage& m,
                           const uint32_t* idx, const uint32_t* len);
  void ring_doorbells_st();
  bool apps_have_unread_st();
  void wake_blocked_st(EngineChannel& ch);

  // [limits] on flows from the wire (flow_limits.cc).
  bool admit_syn_st(const net::MachnetPacketInfo& p);
  void accepted_st(RemoteFlow& f);
  void heard_from_peer_st(RemoteFlow& f) {
    if (f.half_open.linked()) [[unlikely]] f.half_open.unlink();
  }
  void expire_half_open_st();
  void expire_stalled_reassembly_st();
  void log_limits_st();
  void set_awaiting_st(RemoteFlow& f, bool awaiting) {
    if (f.awaiting == awaiting) return;
    f.awaiting = awaiting;
    awaiting_ += awaiting ? 1 : -1;
  }

  // Flows to other machines (remote_delivery.cc).
  Outcome send_remote_st(EngineChannel& src, RemoteFlow& f, uint32_t msg_len, const uint32_t* idx,
                         const uint32_t* len, uint32_t count);
  RemoteFlow& create_remote_st(const FlowKey& key, EngineChannel* owner, bool client, uint32_t conn_id);
  void send_reset_st(const net::MachnetPacketInfo& p);
  void mark_dirty_st(RemoteFlow& f);
  void pump_flows_st();
  // Pure ACKs a flow holds for its reply to carry (FlowParams::ack_delay_us): those due go
  // out with this iteration's pump.
  void release_held_acks_st();
  void reap_flows_st();
  void check_arp_waiters_st();
  void fail_arp_waiter_st(RemoteFlow& f, int err, std::string reason);
  admin::FlowRow flow_row_st(const RemoteFlow& f) const;

  const uint32_t id_;
  const int core_;
  EngineShared& shared_;
  const EngineConfig config_;
  const TransportConfig transport_;
  const uint32_t max_message_bytes_;
  const uint32_t local_ip_;
  const LimitsConfig limits_;
  SpscQueue<Command*, 64> commands_;
  uint64_t now_ns_ = 0;  // one timestamp per loop iteration
  uint64_t now_us_ = 0;
  SpinPolicy spin_policy_;  // whether idle spells begin with a spin (run_st)
  std::atomic<bool> stop_{false};
  // Graceful stop: asked by the control thread, done when the engine says so.
  std::atomic<bool> stop_requested_{false}, stop_done_{false};
  std::atomic<uint64_t> stop_drain_ns_{0};
  EngineCounters counters_;
  std::thread thread_;
  // The daemon's ends of this engine's channel doorbells, for idle sleeps (engine thread
  // after start; -1: sleeps end only by their timeout).
  int epoll_fd_ = -1;
  std::vector<std::shared_ptr<Command>> abandoned_;  // control thread: timed out, not yet answered

  // Engine-thread state.
  PortIo* port_ = nullptr;
  transport::FlowParams flow_params_;
  transport::TimerWheel wheel_;
  TxRecordPool tx_records_;
  HeldBuffers held_;
  FlowContext flow_context_;
  std::vector<EngineChannel*> channels_;
  FlowTable flows_;
  std::unordered_map<uint16_t, EngineChannel*> listeners_;
  std::vector<uint16_t> port_uses_;  // per local port: listeners and connected flows of ours using it
  struct PortCharge {
    uid_t uid = 0;
    uint8_t kind = 0;  // UserPorts::Kind + 1; 0: not charged
  };
  std::vector<PortCharge> port_charges_;  // per local port: the user it is charged to
  uint16_t next_ephemeral_ = kFirstEphemeral;
  static constexpr uint16_t kFirstEphemeral = 49152;
  std::vector<RemoteFlow*> dirty_, dirty_next_;
  std::vector<RemoteFlow*> held_acks_;  // flows holding a pure ACK (release_held_acks_st)
  std::vector<std::unique_ptr<RemoteFlow>> ended_;
  std::vector<RemoteFlow*> arp_waiters_;
  std::vector<RemoteFlow*> waking_;  // scratch of wake_blocked_st
  std::vector<rte_mbuf*> steer_out_;  // frames for other engines, sent after each burst
  std::vector<uint32_t> steer_out_engine_;
  std::vector<rte_mbuf*> loopback_self_;  // frames we sent to ourselves: received next iteration
  std::vector<rte_mbuf*> loopback_now_;   // scratch of receive_steered_st
  std::vector<rte_mbuf*> batch_;  // scratch of steer_flush_st
  // Flows that ended in failure (reset, peer gone): (when, their last `flows` row).
  std::deque<std::pair<uint64_t, admin::FlowRow>> failed_;
  static constexpr size_t kFailedFlowsKept = 64;
  static constexpr uint64_t kFailedFlowsShownUs = 60'000'000;
  uint64_t next_arp_tick_us_ = 0;
  HalfOpenList half_open_;  // accepted flows not heard from since their SYN, oldest first
  uint32_t awaiting_ = 0;   // remote flows with data in flight or queued (awaiting_acks_st)
  uint64_t next_limits_log_us_ = 0;
  uint64_t limits_logged_[5] = {};  // the limit counters as of the last log line
  std::mt19937 rng_;
  // Graceful stop (engine thread): draining = flows deliver what they accepted; closing =
  // FINs sent, waiting for their ACKs; done = what was left got a reset, apps were told.
  enum class StopPhase : uint8_t { kRunning, kDraining, kClosing, kDone };
  StopPhase stop_phase_ = StopPhase::kRunning;
  uint64_t stop_began_ns_ = 0, stop_deadline_ns_ = 0;
  uint32_t stop_closed_ = 0, stop_reset_ = 0;  // flows that ended in order / were reset by the stop
};

}  // namespace machnet::engine
