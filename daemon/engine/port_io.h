// The engine's side of a DPDK port: receive a burst, classify each frame (net/), answer
// ARP requests and pings, resolve and learn neighbours, count drops by reason, hand Machnet
// packets to the engine, transmit in bursts (through the test-only fault injector when it
// is on). Engine thread only (_st), except the counters, which any thread may read.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>
#include <vector>

#include "admin/snapshots.h"
#include "dpdk/port.h"
#include "engine/fault_injector.h"
#include "engine/neighbours.h"
#include "net/arp_table.h"
#include "net/drop_reason.h"
#include "net/packet_builder.h"
#include "net/packet_parser.h"

namespace machnet::engine {

struct PortCounters {
  std::atomic<uint64_t> rx_frames{0};
  std::atomic<uint64_t> rx_bytes{0};
  std::atomic<uint64_t> tx_frames{0};
  std::atomic<uint64_t> tx_bytes{0};
  std::atomic<uint64_t> tx_full{0};  // frames the TX queue had no room for (freed)
  std::atomic<uint64_t> tx_zero_copy{0};  // frames sent with their payload in channel memory
  std::atomic<uint64_t> arp_requests_answered{0};
  std::atomic<uint64_t> arp_requests_sent{0};
  std::atomic<uint64_t> arp_replies_learned{0};
  std::atomic<uint64_t> icmp_echo_answered{0};
  std::atomic<uint64_t> no_mbuf{0};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(net::DropReason::kCount)> drops{};
};

// Where Machnet packets and ARP outcomes go (the engine).
class PortSink {
 public:
  virtual ~PortSink() = default;
  // A Machnet packet for this host. True when the sink keeps the mbuf (frees it later).
  // `steered`: another engine received it and handed it over (handle_steered_st).
  virtual bool on_machnet_st(rte_mbuf* m, const net::MachnetPacketInfo& p, bool steered) = 0;
  // A frame we were about to send to our own address (a flow between two engines of this
  // daemon): the sink delivers it to the engine that owns its destination port. The frame's
  // checksums are marked good (the NIC, which would compute offloaded ones, never sees it).
  virtual void on_loopback_st(rte_mbuf* m) = 0;
  virtual void on_arp_resolved_st(Ipv4Address ip, const MacAddress& mac) = 0;
  virtual void on_arp_failed_st(Ipv4Address ip) = 0;
};

// One queue pair of the port, as one engine drives it.
class PortIo {
 public:
  PortIo(dpdk::Port& port, uint16_t queue, Neighbours& neighbours, net::Interface me, const TestingConfig& testing);
  ~PortIo();

  void set_sink(PortSink* sink) { sink_ = sink; }

  // One receive burst and its answers. True when anything arrived.
  bool poll_st(uint64_t now_us);
  // A Machnet frame another engine received for one of our flows.
  void handle_steered_st(rte_mbuf* m, uint64_t now_us);
  // Announces our address (gratuitous ARP); the engine calls it once when it starts.
  void announce_st();

  // Sending. alloc_st may return null (pool empty: counted).
  rte_mbuf* alloc_st();
  void queue_tx_st(rte_mbuf* m);
  void flush_tx_st();
  net::TxChecksum tx_checksum() const { return tx_checksum_; }
  // Prepares an mbuf holding a frame written by net::write_machnet_headers for sending:
  // lengths, and the checksum offload flags or the software UDP checksum. payload_sum is
  // the payload's one's-complement sum (net::copy_and_sum as it was copied in; 0 for no
  // payload); with offload it is not needed.
  void finish_machnet_frame(rte_mbuf* m, uint32_t payload_len, uint16_t payload_sum);

  // Zero-copy send: a payload of `payload_len` bytes for `dst` may go out as segments that
  // point into the application's channel buffers instead of being copied into the frame.
  // Only where the driver copies every frame out by virtual address within tx_burst
  // (net_memif) and nothing reads the payload on the way (no software checksum, no fault
  // injector holding frames): after flush_tx_st no mbuf points into channel memory, so a
  // channel may go away once its engine has flushed (Engine::remove_channel_st does).
  // Large payloads only: for a small one an extra mbuf costs more than the copy.
  bool zero_copy_ok(uint32_t payload_len, Ipv4Address dst) const {
    return zero_copy_ && payload_len >= kZeroCopyMinBytes && dst != me_.ip;
  }
  // Chains `len` bytes at `data` to frame `head` (whose last segment is `tail`, updated) as
  // an external segment. False when no mbuf is left (counted; the caller frees `head`).
  bool append_external_st(rte_mbuf* head, rte_mbuf*& tail, uint8_t* data, uint16_t len);
  void count_zero_copy_st() { add(counters_.tx_zero_copy); }

  // The MAC of `ip`, or nullopt while it is being resolved (a request goes out now if none
  // is under way; the sink hears of the outcome).
  std::optional<MacAddress> resolve_st(Ipv4Address ip, uint64_t now_us);
  // ARP retries and failures; call every few milliseconds.
  void arp_tick_st(uint64_t now_us);
  void learn_st(Ipv4Address ip, const MacAddress& mac, uint64_t now_us) { arp_.learn(ip, mac, now_us); }
  std::optional<MacAddress> lookup_st(Ipv4Address ip) const { return arp_.lookup(ip); }
  admin::ArpSnapshot arp_snapshot_st(uint64_t now_us) const;
  // A frame the engine dropped after the port handed it over (no flow for it).
  void count_drop_st(net::DropReason reason) { add(counters_.drops[static_cast<size_t>(reason)]); }

  // The port's counters (without the device's and the mempool's: the caller adds those).
  admin::PortCounters stats() const;  // any thread
  const net::Interface& interface() const { return me_; }
  uint32_t mtu() const { return port_.info().mtu; }
  uint16_t queue() const { return queue_; }
  // `percent` of the port's packet buffers, split evenly over its queues (one per engine).
  uint32_t held_buffer_share(uint32_t percent) const;

 private:
  void handle_frame_st(rte_mbuf* m, uint64_t now_us, bool steered);
  bool to_self(const rte_mbuf* m) const;
  void send_arp_request_st(Ipv4Address ip);
  void transmit_now_st(rte_mbuf** frames, uint16_t count);
  void add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  static constexpr uint16_t kBurst = 32;
  static constexpr uint32_t kZeroCopyMinBytes = 2048;
  dpdk::Port& port_;
  const uint16_t queue_;
  const net::Interface me_;
  const net::TxChecksum tx_checksum_;
  const bool rx_udp_unchecked_;  // a memory link without checksums (PortInfo::udp_checksum_skipped)
  PortSink* sink_ = nullptr;
  Neighbours& arp_;
  std::array<rte_mbuf*, kBurst> tx_{};
  uint16_t tx_count_ = 0;
  uint64_t now_us_ = 0;
  FaultInjector faults_;
  const bool zero_copy_;
  // One for every external segment: it never frees anything (channel memory is the
  // channel's), and its base reference keeps the count from reaching zero.
  rte_mbuf_ext_shared_info external_{};
  std::vector<rte_mbuf*> fault_out_;
  std::vector<Ipv4Address> arp_retry_, arp_failed_;
  PortCounters counters_;
};

}  // namespace machnet::engine
