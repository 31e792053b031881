// M senders, each with one Flow to the same receiver, through ONE drop-tail bottleneck
// (drop_tail.h): the incast a busy server port sees. Senders keep their flows backlogged
// (long-running transfers) until told to stop; flows can join and leave mid-run. The
// reverse path (ACKs) is uncongested. Payload bytes are not carried (only lengths): the
// two-endpoint SimWire checks bytes; this wire is for the congestion controller, and
// carrying nothing keeps 256 flows at 10 Gbit/s fast enough for a unit test under ASan.
// Event-driven: a flow is pumped only when a packet or its timer reaches it.
#pragma once

#include <cstdint>
#include <memory>
#include <queue>
#include <random>
#include <vector>

#include "transport/flow.h"
#include "transport/testing/drop_tail.h"

namespace machnet::transport::sim {

struct ManyFlowConfig {
  uint32_t flows = 2;
  double bottleneck_bytes_per_us = 1250;  // 10 Gbit/s
  uint32_t queue_packets = 4096;          // drop-tail capacity (6 MB of full frames)
  uint32_t delay_us = 10;                 // one way, each direction, before queueing
  uint32_t message_bytes = 64 << 10;
  uint32_t messages_queued = 4;           // each sender's application keeps this many queued
  uint32_t wire_overhead = 90;            // Ethernet + IPv4 + UDP + Machnet header bytes
};

class ManyFlowWire;

// One end of one flow: a sender (backlogged application) or the receiver's side of it.
class FlowEnd : public FlowIo {
 public:
  FlowEnd(ManyFlowWire& wire, uint32_t index, bool sender);
  ~FlowEnd() override { flow.reset(); }  // the flow hands its messages back first

  bool transmit(const net::MachnetHeader& h, const TxMessage* msg, uint32_t offset, uint32_t len) override;
  void tx_done(TxMessage* msg) override;
  bool rx_begin(uint32_t msg_len) override;
  void rx_append(const uint8_t*, uint32_t len) override { rx_bytes += len; }
  void rx_end() override { ++rx_msgs; }
  void rx_discard() override { ++errors; }
  uint32_t rx_room_packets() override { return 1u << 16; }  // an application that always reads
  void release(void*) override {}                           // packets carry no buffers here
  void on_established() override {}
  void on_closed(FlowError why) override { closed = why; }

  void run_app();  // a sender keeps messages_queued messages queued while `sending`

  std::unique_ptr<Flow> flow;
  uint32_t index;
  bool sender;
  bool sending = false;
  FlowError closed = FlowError::kNone;
  uint64_t rx_bytes = 0, rx_msgs = 0, errors = 0;

 private:
  ManyFlowWire& wire_;
  std::vector<TxMessage> msgs_;     // recycled: a flow never holds more than these
  std::vector<TxMessage*> free_;
};

class ManyFlowWire {
 public:
  ManyFlowWire(const FlowParams& params, const ManyFlowConfig& config, uint64_t seed);

  // Sender i connects and starts sending (a flow joins).
  void start(uint32_t i);
  // Sender i's application goes away: its flow is aborted (a flow leaves at once).
  void stop(uint32_t i);
  void step(uint64_t us);

  // Bytes receiver-side flow i delivered to its application so far.
  uint64_t delivered(uint32_t i) const { return receivers[i]->rx_bytes; }

  uint64_t now_us = 1'000'000;
  FlowParams params;
  ManyFlowConfig config;
  TimerWheel wheel;
  DropTailQueue bottleneck;
  std::vector<std::unique_ptr<FlowEnd>> senders, receivers;
  uint64_t lost_at_bottleneck = 0;

 private:
  friend class FlowEnd;
  struct Packet {
    net::MachnetHeader h;
    uint32_t len = 0;
    uint32_t flow = 0;
    bool to_receiver = false;
    uint64_t at_us = 0, order = 0;
  };
  struct Later {
    bool operator()(const Packet& a, const Packet& b) const {
      return a.at_us != b.at_us ? a.at_us > b.at_us : a.order > b.order;
    }
  };
  void send(const FlowEnd& from, const net::MachnetHeader& h, uint32_t len);
  void deliver(const Packet& p);

  std::priority_queue<Packet, std::vector<Packet>, Later> queue_;
  uint64_t order_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace machnet::transport::sim
