// An engine: one thread that owns its channels and flows and moves messages between them.
// A message on a flow whose other end is a channel of this daemon is copied straight into
// that channel (local delivery); a flow to another machine goes through the transport
// (transport/flow.h) and the port (port_io.h).
//
// Threading: the public methods without _st run on the control thread and talk to the engine
// only through the command queue; methods ending in _st run on the engine thread.
#pragma once

#include <atomic>
#include <deque>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "admin/snapshots.h"
#include "channel/control_protocol.h"
#include "config/config.h"
#include "engine/command_queue.h"
#include "engine/engine_channel.h"
#include "engine/flow_key.h"
#include "engine/port_io.h"
#include "engine/remote_flow.h"
#include "transport/timer_wheel.h"

namespace machnet::engine {

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

// One end of a flow between two channels of this daemon: messages its owner sends with
// this key go to `peer`.
struct Endpoint {
  EngineChannel* owner = nullptr;
  EngineChannel* peer = nullptr;  // null once the other end closed or died
  bool connector = false;         // this end chose the ephemeral port
};

class Engine final : public PortSink {
 public:
  Engine(const EngineConfig& config, const TransportConfig& transport, uint32_t max_message_bytes, uint32_t local_ip);
  ~Engine() override;

  // Gives the engine a port to poll (ARP, ping, Machnet packets). Before start().
  void attach_port(PortIo* port);

  void start();
  void stop();  // joins; flows end, channels still registered are forgotten (the caller owns them)

  // Runs `cmd` on the engine thread and waits for it. Control thread only.
  void execute(Command& cmd);
  // Hands `cmd` to the engine thread without waiting; cmd.on_done runs (on the engine
  // thread) when it completes. `cmd` must live until then.
  void submit(Command& cmd);

  // One loop iteration without the thread, for tests that drive the engine by hand.
  bool poll_once_st();

  uint32_t local_ip() const { return local_ip_; }
  // For `status` and `stats` (any thread). TODO(lead): placeholders until the multi-engine
  // rewrite gives each engine an id, a core and a queue and publishes its flow and channel
  // counts (relaxed atomics, like loops()).
  uint32_t id() const { return 0; }
  int core() const { return -1; }
  uint32_t queue() const { return 0; }
  uint32_t flow_count() const { return 0; }
  uint32_t channel_count() const { return 0; }
  bool running() const { return thread_.joinable(); }
  uint64_t loops() const { return loops_.load(std::memory_order_relaxed); }
  uint64_t busy_loops() const { return busy_loops_.load(std::memory_order_relaxed); }
  // The eventfd applications write to wake the engine from an idle sleep (passed to them
  // with each channel).
  int wake_fd() const { return wake_fd_; }

  // PortSink (engine thread).
  bool on_machnet_st(rte_mbuf* m, const net::MachnetPacketInfo& p) override;
  void on_arp_resolved_st(Ipv4Address ip, const MacAddress& mac) override;
  void on_arp_failed_st(Ipv4Address ip) override;

 private:
  friend class RemoteFlow;

  void run_st();
  bool poll_commands_st();
  void run_command_st(Command& cmd);
  void complete_st(Command& cmd);
  void add_channel_st(EngineChannel* ch);
  void remove_channel_st(EngineChannel* ch);
  void listen_st(Command& cmd);
  void connect_st(Command& cmd);
  void connect_remote_st(Command& cmd);
  void close_flow_st(Command& cmd);
  void erase_endpoint_st(const FlowKey& key);
  uint16_t ephemeral_port_st();
  void flow_rows_st(std::vector<admin::FlowRow>& out);
  admin::FlowRow flow_row_st(const RemoteFlow& f) const;

  // Channel work (engine/local_delivery.cc).
  uint32_t reclaim_st(EngineChannel& ch);
  bool transmit_st(EngineChannel& ch);
  enum class Outcome { kDelivered, kDropped, kHold };
  Outcome deliver_st(EngineChannel& src, uint32_t head);
  void return_to_app_st(EngineChannel& ch, const uint32_t* idx, uint32_t n);
  void count_drop_st(EngineChannel& ch, uint32_t reason);
  void ring_doorbells_st();
  void publish_stats_st(EngineChannel& ch);

  // Remote flows (engine/remote_delivery.cc).
  Outcome send_remote_st(EngineChannel& src, RemoteFlow& f, uint32_t msg_len, const uint32_t* idx,
                         const uint32_t* len, uint32_t count);
  RemoteFlow* create_remote_st(const FlowKey& key, EngineChannel* owner, bool client, uint32_t conn_id);
  void send_reset_st(const net::MachnetPacketInfo& p);
  void mark_dirty_st(RemoteFlow& f);
  void pump_flows_st();
  void flow_ended_st(RemoteFlow& f, transport::FlowError why);
  void notify_flow_ended_st(EngineChannel& ch, const FlowKey& key, int err);
  void reap_flows_st();
  void wake_blocked_st(EngineChannel& ch);
  bool awaiting_acks_st() const;
  void idle_sleep_st(uint64_t sleep_ns);
  void check_arp_waiters_st();
  TxRecord* take_tx_record_st();
  void give_back_tx_record_st(TxRecord* r);

  const EngineConfig config_;
  const TransportConfig transport_;
  const uint32_t max_message_bytes_;
  const uint32_t local_ip_;
  SpscQueue<Command*, 64> commands_;
  uint64_t now_ns_ = 0;  // one timestamp per loop iteration
  uint64_t now_us_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> loops_{0};
  std::atomic<uint64_t> busy_loops_{0};
  std::thread thread_;
  int wake_fd_ = -1;

  // Engine-thread state.
  PortIo* port_ = nullptr;
  transport::FlowParams flow_params_;
  std::vector<EngineChannel*> channels_;
  std::unordered_map<FlowKey, Endpoint, FlowKeyHash> flows_;  // local delivery
  std::unordered_map<FlowKey, std::unique_ptr<RemoteFlow>, FlowKeyHash> remote_;
  std::unordered_map<uint16_t, EngineChannel*> listeners_;
  std::vector<uint16_t> port_refs_;  // flows using each port as their connector's source port
  uint16_t next_ephemeral_ = kFirstEphemeral;
  static constexpr uint16_t kFirstEphemeral = 49152;
  transport::TimerWheel wheel_;
  std::vector<RemoteFlow*> dirty_, dirty_next_;
  std::vector<std::unique_ptr<RemoteFlow>> ended_;
  std::vector<RemoteFlow*> arp_waiters_;
  std::vector<RemoteFlow*> waking_;  // scratch of wake_blocked_st
  // Flows that ended in failure (reset, peer gone): (when, their last `flows` row).
  std::deque<std::pair<uint64_t, admin::FlowRow>> failed_;
  static constexpr size_t kFailedFlowsKept = 64;
  static constexpr uint64_t kFailedFlowsShownUs = 60'000'000;
  std::vector<std::unique_ptr<TxRecord>> tx_records_;  // free list
  uint64_t next_arp_tick_us_ = 0;
  std::mt19937 rng_;
};

}  // namespace machnet::engine
