// The engine's side of a DPDK port: receive a burst, classify each frame (net/), answer
// ARP requests and pings, learn neighbours, count drops by reason, transmit in bursts.
// Machnet packets are counted as unknown flows until flows cross the wire (data-path
// issue). Engine thread only (_st), except the counters, which any thread may read.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include <nlohmann/json.hpp>

#include "dpdk/port.h"
#include "net/arp_table.h"
#include "net/drop_reason.h"
#include "net/packet_parser.h"

namespace machnet::engine {

struct PortCounters {
  std::atomic<uint64_t> rx_frames{0};
  std::atomic<uint64_t> tx_frames{0};
  std::atomic<uint64_t> tx_full{0};  // frames the TX queue had no room for (freed)
  std::atomic<uint64_t> arp_requests_answered{0};
  std::atomic<uint64_t> arp_replies_learned{0};
  std::atomic<uint64_t> icmp_echo_answered{0};
  std::atomic<uint64_t> no_mbuf{0};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(net::DropReason::kCount)> drops{};
};

class PortIo {
 public:
  PortIo(dpdk::Port& port, net::Interface me);
  ~PortIo();

  // One receive burst and its answers. True when anything arrived.
  bool poll_st(uint64_t now_us);
  // Announces our address (gratuitous ARP); the engine calls it once when it starts.
  void announce_st();

  nlohmann::json stats_json() const;  // any thread
  const net::Interface& interface() const { return me_; }

 private:
  void handle_frame_st(rte_mbuf* m, uint64_t now_us);
  void queue_tx_st(rte_mbuf* m);
  void flush_tx_st();
  void add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  static constexpr uint16_t kBurst = 32;
  dpdk::Port& port_;
  const net::Interface me_;
  net::ArpTable arp_;
  std::array<rte_mbuf*, kBurst> tx_{};
  uint16_t tx_count_ = 0;
  PortCounters counters_;
};

}  // namespace machnet::engine
