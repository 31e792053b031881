// An engine: one thread that owns its channels and flows and moves messages between them.
// For now (no NIC yet) there is one engine and it delivers locally: a message sent on a flow
// whose other end is a channel of this daemon is copied into that channel, whole and in order.
//
// Threading: the public methods without _st run on the control thread and talk to the engine
// only through the command queue; methods ending in _st run on the engine thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "channel/control_protocol.h"
#include "config/config.h"
#include "engine/command_queue.h"
#include "engine/engine_channel.h"
#include "engine/port_io.h"

namespace machnet::engine {

struct Command {
  enum class Kind { kAddChannel, kRemoveChannel, kListen, kConnect, kCloseFlow };
  Kind kind;
  EngineChannel* channel = nullptr;
  uint32_t local_ip = 0, remote_ip = 0;
  uint16_t local_port = 0, remote_port = 0;
  channel::CtlFlow flow{};
  // Answer, valid once done != 0.
  int error = 0;
  const char* reason = "";
  std::atomic<uint32_t> done{0};
};

struct FlowKey {
  uint32_t src_ip, dst_ip;
  uint16_t src_port, dst_port;
  bool operator==(const FlowKey&) const = default;
};
struct FlowKeyHash {
  size_t operator()(const FlowKey& k) const {
    uint64_t x = (uint64_t{k.src_ip} << 32 | k.dst_ip) * 0x9e3779b97f4a7c15ULL;
    x ^= (uint64_t{k.src_port} << 16 | k.dst_port) * 0xc2b2ae3d27d4eb4fULL;
    return x ^ (x >> 29);
  }
};

// One end of a connection: messages its owner sends with this key go to `peer`.
struct Endpoint {
  EngineChannel* owner = nullptr;
  EngineChannel* peer = nullptr;  // null once the other end closed or died
  bool connector = false;         // this end chose the ephemeral port
};

class Engine {
 public:
  Engine(const EngineConfig& config, uint32_t local_ip);
  ~Engine();

  // Gives the engine a port to poll (ARP, ping, Machnet packets). Before start().
  void attach_port(PortIo* port) { port_ = port; }

  void start();
  void stop();  // joins; channels still registered are simply forgotten (the caller owns them)

  // Runs `cmd` on the engine thread and waits for it. Control thread only.
  void execute(Command& cmd);

  // One loop iteration without the thread, for tests that drive the engine by hand.
  bool poll_once_st();

  uint32_t local_ip() const { return local_ip_; }
  bool running() const { return thread_.joinable(); }
  uint64_t loops() const { return loops_.load(std::memory_order_relaxed); }

 private:
  void run_st();
  bool poll_commands_st();
  void run_command_st(Command& cmd);
  void add_channel_st(EngineChannel* ch);
  void remove_channel_st(EngineChannel* ch);
  void listen_st(Command& cmd);
  void connect_st(Command& cmd);
  void close_flow_st(Command& cmd);
  void erase_endpoint_st(const FlowKey& key);

  // Channel work (engine/local_delivery.cc).
  bool reclaim_st(EngineChannel& ch);
  bool transmit_st(EngineChannel& ch);
  enum class Outcome { kDelivered, kDropped, kHold };
  Outcome deliver_st(EngineChannel& src, uint32_t head);
  void return_to_app_st(EngineChannel& ch, const uint32_t* idx, uint32_t n);
  void count_drop_st(EngineChannel& ch, uint32_t reason);
  void ring_doorbells_st();
  void publish_stats_st(EngineChannel& ch);

  const EngineConfig config_;
  const uint32_t local_ip_;
  SpscQueue<Command*, 64> commands_;
  uint64_t now_ns_ = 0;  // one timestamp per loop iteration
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> loops_{0};
  std::thread thread_;

  // Engine-thread state.
  PortIo* port_ = nullptr;
  std::vector<EngineChannel*> channels_;
  std::unordered_map<FlowKey, Endpoint, FlowKeyHash> flows_;
  std::unordered_map<uint16_t, EngineChannel*> listeners_;
  std::vector<uint16_t> port_refs_;  // endpoints using each port as their connector's source port
  uint16_t next_ephemeral_ = kFirstEphemeral;
  static constexpr uint16_t kFirstEphemeral = 49152;
};

}  // namespace machnet::engine
