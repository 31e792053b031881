// A flow to another machine's daemon, as the engine holds it: the transport's Flow plus
// what joins it to the world — the owning channel (where received messages go and sent
// ones come from), the addresses for the headers, and the FlowIo glue over mbufs and
// channel buffers. Engine thread only.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "engine/engine_channel.h"
#include "engine/flow_key.h"
#include "engine/half_open.h"
#include "engine/tx_record_pool.h"
#include "net/packet_builder.h"
#include "transport/flow.h"

namespace machnet::engine {

struct Command;
class PortIo;
class RemoteFlow;

// What happens to a flow that its engine must hear of (the engine implements it).
class FlowEvents {
 public:
  virtual ~FlowEvents() = default;
  virtual void flow_established_st(RemoteFlow& f) = 0;
  virtual void flow_ended_st(RemoteFlow& f, transport::FlowError why) = 0;
};

// The packet buffers an engine's flows keep (out-of-order segments, segments waiting for
// their application's room), against the engine's share of the port's pool ([limits]
// held_packet_buffers_percent): peers that never fill their gaps cannot take the buffers
// that receive rings, ARP, ICMP and ACKs need. Written by the engine; any thread may read.
struct HeldBuffers {
  std::atomic<uint32_t> count{0};
  uint32_t cap = UINT32_MAX;
  std::atomic<uint64_t> refused{0};  // packets not kept because the cap was reached
};

// Everything a remote flow reaches besides its own channel: the port it sends through,
// the pool of send records, its engine's events and timer wheel, the transport settings,
// and (null in tests that do without) the engine's held-buffer count and clock.
struct FlowContext {
  PortIo* port = nullptr;  // null only in tests without a port
  TxRecordPool& records;
  FlowEvents& events;
  transport::TimerWheel& wheel;
  const transport::FlowParams& params;
  HeldBuffers* held = nullptr;
  const uint64_t* now_us = nullptr;
};

class RemoteFlow final : public transport::FlowIo {
 public:
  RemoteFlow(FlowContext& ctx, const FlowKey& key, EngineChannel* owner, bool client, uint32_t conn_id,
             uint32_t isn);
  ~RemoteFlow() override;

  // FlowIo
  bool transmit(const net::MachnetHeader& h, const transport::TxMessage* msg, uint32_t offset, uint32_t len) override;
  void tx_done(transport::TxMessage* msg) override;
  bool rx_begin(uint32_t msg_len) override;
  void rx_append(const uint8_t* data, uint32_t len) override;
  void rx_end() override;
  void rx_discard() override;
  uint32_t rx_room_packets() override;
  bool may_hold() override;
  void release(void* handle) override;
  void on_established() override;
  void on_closed(transport::FlowError why) override;

  // When the message being reassembled last moved (its first segment or a later one);
  // 0 when none is. The engine drops one that stalls while others wait for its room.
  uint64_t rx_progress_us() const { return rx_open_ ? rx_progress_us_ : 0; }
  // Buffers of the owner's receive pool that message holds.
  uint32_t rx_reserved_buffers() const { return static_cast<uint32_t>(rx_bufs_.size()); }

  // The owning channel is going away: copy what is still to be sent out of its memory,
  // drop what arrives from now on, and close the flow in order (the peer gets everything
  // the application sent before it left, then a FIN).
  void orphan_st(uint64_t now_us);

  const FlowKey key;  // src = this host, dst = the peer: as the application names the flow
  EngineChannel* owner;
  const bool client;
  net::FlowAddress addr;  // what our headers say
  transport::Flow flow;
  Command* pending_connect = nullptr;  // machnet_connect waiting for the handshake
  uint64_t arp_deadline_us = 0;        // nonzero while waiting for the peer's MAC
  bool dirty = false;                  // queued for pump() this iteration
  bool in_held_acks = false;           // in Engine::held_acks_
  bool blocked_listed = false;         // in owner->blocked_flows
  bool ended = false;                  // closed; reaped at the end of the iteration
  bool stop_drained = false;           // the daemon is stopping and all it accepted was acknowledged
  bool awaiting = false;               // data in flight or queued, as of its last pump (Engine::awaiting_)
  HalfOpenLink half_open;              // linked while accepted and not heard from since the SYN

 private:
  void wait_for_room_st();
  // The flow stops receiving into its owner (ended or orphaned): it no longer shares the
  // channel's room nor waits in its queue.
  void leave_owner_st();
  // In and out of owner->reassembling, the flows holding a reservation there.
  void start_reassembly_st();
  void end_reassembly_st();
  uint64_t now_us() const { return ctx_.now_us ? *ctx_.now_us : 0; }

  FlowContext& ctx_;
  bool rx_waiting_ = false;  // counted in owner->rx_waiting
  bool counted_ = false;     // counted in owner->rx_flows
  // The message being reassembled, in the owner's daemon-pool buffers.
  std::vector<uint32_t> rx_bufs_;
  uint32_t rx_len_ = 0, rx_filled_ = 0;
  bool rx_open_ = false;
  uint64_t rx_progress_us_ = 0;
  uint32_t reassembling_pos_ = 0;  // index in owner->reassembling while rx_open_
};

}  // namespace machnet::engine
