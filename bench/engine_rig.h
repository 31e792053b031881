// A real Engine with no NIC and no application process, for bench/engine_bench.cc: DPDK's
// ring PMD gives it a port whose RX queue is a ring the benchmark fills with pre-built
// frames and whose TX queue is a ring the benchmark drains; one channel in this process's
// memory plays the application (the rig reads what the engine delivers and gives the
// buffers back, writes messages for it to send). The engine runs without its thread
// (poll_once_st), so everything is on the benchmark's one core.
//
// The peer is simulated by hand, not by a second engine: it sends in-order data with
// correct sequence numbers and acknowledges everything the engine sent, so the engine's
// per-packet path is measured without loss recovery or a peer's cost in the numbers.
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "config/config.h"
#include "dpdk/port.h"
#include "engine/engine.h"
#include "engine/neighbours.h"
#include "engine/port_io.h"
#include "net/packet_builder.h"
#include "shm/channel_memory.h"

namespace machnet::bench {

// One simulated peer flow to the rig's listener: the peer's header state.
struct PeerFlow {
  net::FlowAddress addr;  // as the peer writes it: src = peer, dst = the engine
  uint32_t conn_id = 0;
  uint32_t next_seq = 0;  // the peer's next data sequence number
  uint32_t msg_pos = 0;   // packets of the current message already built
  uint32_t ack = 0;       // what the peer acknowledges of the engine's direction
  engine::FlowKey key{};  // as the engine names it
};

class EngineRig {
 public:
  // The process's one rig (DPDK's EAL initialises once per process). Aborts with a message
  // when DPDK cannot start.
  static EngineRig& get();

  // A new flow from the peer, accepted by the listener (SYN in, SYN-ACK out).
  PeerFlow connect();
  // The engine's own flow towards the peer: connect from the channel, answer the SYN.
  PeerFlow connect_out();

  // Writes `n` data frames of the peer into fresh mbufs (payload bytes each, messages of
  // `per_message` packets), with software UDP checksums, or marked verified by the NIC
  // when `offload`.
  void build_data(PeerFlow& f, rte_mbuf** out, uint32_t n, uint32_t payload, uint32_t per_message, bool offload);
  // A pure ACK of everything up to f.ack, window fully open.
  rte_mbuf* build_ack(const PeerFlow& f);

  // Puts frames on the engine's RX ring (all of them: the ring is sized for it).
  void inject(rte_mbuf** frames, uint32_t n);
  uint32_t rx_queued() const { return rte_ring_count(rx_); }
  // Takes what the engine transmitted and frees it. Counts the frames, and for data
  // frames moves f->ack past the highest sequence seen (when f is set).
  struct Drained {
    uint32_t frames = 0, data = 0;
  };
  Drained drain_tx(PeerFlow* f);

  // The application's side of the channel: reads every delivered message and gives its
  // buffers back. Returns the messages read.
  uint32_t app_read();
  // Queues up to `count` messages of `len` bytes on `f` (as machnet_send would, without
  // writing the bytes), as far as the application's free buffers and the ring allow.
  // Returns how many were queued.
  uint32_t app_send(const PeerFlow& f, uint32_t len, uint32_t count);

  engine::Engine& engine() { return *engine_; }
  engine::PortIo& port_io() { return *io_; }
  // The engine's row for a flow (transport counters), for checking a run was clean.
  admin::FlowRow row(const PeerFlow& f);

  static constexpr uint32_t kIp = 0x0a4d0001;      // 10.77.0.1, the engine
  static constexpr uint32_t kPeerIp = 0x0a4d0002;  // 10.77.0.2
  static constexpr uint16_t kListenPort = 7000;

 private:
  EngineRig();
  void write_frame(const PeerFlow& f, rte_mbuf* m, const net::MachnetHeader& h, uint32_t payload, bool offload);
  uint64_t now_us() const;
  // Drains the TX ring; the header and UDP source port of the first frame carrying `flag`
  // (*src_port stays 0 when none did).
  net::MachnetHeader take_control(uint8_t flag, uint16_t* src_port);

  rte_ring* rx_ = nullptr;  // the engine's RX queue: we produce
  rte_ring* tx_ = nullptr;  // its TX queue: we consume
  std::unique_ptr<dpdk::Port> port_;
  engine::Neighbours neighbours_;
  TestingConfig testing_;
  std::unique_ptr<engine::PortIo> io_;
  EngineConfig config_;
  engine::EngineShared shared_;
  std::unique_ptr<engine::Engine> engine_;
  shm::ChannelMemory mem_;
  std::unique_ptr<engine::EngineChannel> ch_;
  // The application's ends of the channel rings.
  std::unique_ptr<channel::RingConsumer> to_app_;
  std::unique_ptr<channel::RingProducer> daemon_free_;
  std::unique_ptr<channel::RingProducer> to_daemon_;
  std::unique_ptr<channel::RingConsumer> app_free_;
  std::vector<uint32_t> scratch_;
  uint16_t next_peer_port_ = 20000;
  uint32_t next_conn_id_ = 1;
};

}  // namespace machnet::bench
