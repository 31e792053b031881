// A simulated network for the transport's unit tests: two Flows joined by a wire with a
// fake clock, seeded loss, duplication, corruption (caught by a checksum, as the UDP
// checksum does for real), reordering, delay and a bandwidth bottleneck. Each end sends
// messages whose bytes derive from (seed, index) and checks every byte it receives, in
// order, without storing what it expects. Many flows through one drop-tail bottleneck:
// many_flow_wire.h.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "transport/flow.h"
#include "transport/testing/drop_tail.h"

namespace machnet::transport::sim {

// The transport tests' flow parameters: the shipped windows and RTO bounds, with a Swift
// target (100 us) suited to the simulated wire's 10 us links, and a flow-scaling range in
// the shipped proportion to it (1000 us on 2000).
inline FlowParams test_params() {
  FlowParams p;
  p.cc.initial_window = 16;
  p.cc.min_window = 2;
  p.cc.max_window = 128;
  p.cc.target_delay_us = 100;
  p.cc.flow_scaling_range_us = 50;
  p.rto_min_us = 1000;
  p.rto_max_us = 100000;
  return p;
}

struct Impairments {
  double loss = 0, duplicate = 0, corrupt = 0, reorder = 0;
  uint32_t delay_us = 10;           // one way, before queueing
  uint32_t reorder_extra_us = 100;  // a reordered packet is held back this much longer
  double bytes_per_us = 1250;       // 10 Gbit/s; 0 = no bottleneck
  // The bottleneck's queue, each direction: packets that find this many waiting are
  // dropped (drop_tail.h). 0: unbounded.
  uint32_t queue_packets = 0;
};

struct Workload {
  uint32_t messages = 1000;      // each way
  uint32_t max_size = 64 << 10;  // log-uniform sizes from 1 B
  uint32_t big_messages = 0;     // extra messages of exactly big_size, spread through
  uint32_t big_size = 8u << 20;
  uint32_t in_flight = 16;       // messages an application keeps queued
  // Request/response: end 0 sends request k once it has reply k - 1, end 1 sends reply k
  // once it has request k (in_flight still bounds each end). End 0 records each request's
  // completion time (Endpoint::rpc_us).
  bool rpc = false;
  // With rpc: end 1 answers this long after the request reached it (an application's
  // think time: its engine has pumped the flow before the application runs).
  uint32_t reply_after_us = 0;
};

struct Packet {
  net::MachnetHeader h;
  std::vector<uint8_t> payload;
  uint64_t checksum = 0;
  uint64_t at_us = 0, order = 0;
  int to = 0;  // endpoint index
};

class SimWire;

// One end: a Flow, the application above it, and the FlowIo glue.
class Endpoint : public FlowIo {
 public:
  Endpoint(SimWire& wire, int index, uint64_t seed);
  ~Endpoint() override;

  // FlowIo
  bool transmit(const net::MachnetHeader& h, const TxMessage* msg, uint32_t offset, uint32_t len) override;
  void tx_done(TxMessage* msg) override;
  bool rx_begin(uint32_t msg_len) override;
  void rx_append(const uint8_t* data, uint32_t len) override;
  void rx_end() override;
  void rx_discard() override;
  uint32_t rx_room_packets() override;
  void release(void* handle) override;
  void on_established() override { established = true; }
  void on_closed(FlowError why) override { closed = why; closed_at_us = now(); }

  // The application: keeps Workload::in_flight messages queued; reads if not paused.
  void run_app();
  uint64_t now() const;

  std::unique_ptr<Flow> flow;
  int index;
  uint64_t seed;
  bool established = false;
  std::optional<FlowError> closed;
  uint64_t closed_at_us = 0;
  uint64_t last_rx_at_us = 0;  // when the latest whole message reached the application
  net::MachnetHeader last_sent{};  // the header of the last packet this end sent

  // Sending.
  uint32_t next_to_send = 0;
  uint32_t unacked_msgs = 0;
  std::vector<uint32_t> plan;  // message sizes, in order
  std::vector<uint64_t> sent_at;  // when each message was handed to the flow
  std::vector<uint64_t> rpc_us;   // end 0 with Workload::rpc: request sent -> reply received
  // Receiving.
  uint32_t next_expected = 0;  // index of the next message
  uint32_t rx_len = 0, rx_off = 0;
  bool rx_open = false;
  std::vector<uint8_t> rx_expect;  // the expected bytes of the message arriving
  uint64_t errors = 0;             // wrong bytes, wrong order, wrong length
  bool paused = false;             // the application stopped reading
  uint64_t room_bytes = 64u << 20; // buffers the application has
  uint64_t used_bytes = 0;         // reserved by the message arriving and held by unread ones
  std::vector<uint32_t> unread;    // sizes of delivered, unread messages

 private:
  SimWire& wire_;
};

class SimWire {
 public:
  SimWire(const FlowParams& params, const Impairments& imp, const Workload& work, uint64_t seed);

  // Runs until both ends received everything (true) or sim_limit_us passed (false).
  bool run(uint64_t sim_limit_us);
  // Advances time by `us` (for tests that steer by hand).
  void step(uint64_t us);
  void deliver_due();

  uint64_t now_us = 1'000'000;
  Impairments imp;
  Workload work;
  FlowParams params;
  TimerWheel wheel;
  std::mt19937_64 rng;
  std::unique_ptr<Endpoint> end[2];
  bool link_down = false;  // drop everything
  // Drops the packets it returns true for (and counts them as lost): targeted losses, e.g.
  // the final ACK.
  std::function<bool(int from, const Packet&)> drop_if;
  uint64_t sent = 0, lost = 0, duplicated = 0, corrupted = 0, reordered = 0, bad_checksum = 0;
  uint64_t queue_drops = 0;  // of `lost`, dropped by a full bottleneck queue
  uint32_t min_cwnd_seen = ~0u, max_cwnd_seen = 0;

  void send(int from, Packet p);

 private:
  struct Later {
    bool operator()(const std::unique_ptr<Packet>& a, const std::unique_ptr<Packet>& b) const {
      return a->at_us != b->at_us ? a->at_us > b->at_us : a->order > b->order;
    }
  };
  std::priority_queue<std::unique_ptr<Packet>, std::vector<std::unique_ptr<Packet>>, Later> queue_;
  uint64_t order_ = 0;
  uint64_t link_free_at_[2] = {0, 0};
  std::unique_ptr<DropTailQueue> bottleneck_[2];  // with Impairments::queue_packets
};

// The bytes of message `index` from the end seeded `seed`; the first 4 bytes carry the index.
void fill_message(uint64_t seed, uint32_t index, uint8_t* out, uint32_t len);
uint64_t checksum(const Packet& p);

}  // namespace machnet::transport::sim
