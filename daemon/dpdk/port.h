// One DPDK ethdev port with one RX/TX queue pair per engine, its mbuf pool, and what the
// daemon needs to know about it: MAC, link, checksum offloads, RSS, counters.
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/net_types.h"
#include "util/result.h"

namespace machnet::dpdk {

struct PortInfo {
  uint16_t port_id = 0;
  std::string name;    // the device name, e.g. "net_af_packet0"
  std::string driver;  // e.g. "net_af_packet"
  MacAddress mac;
  uint32_t mtu = 0;
  bool tx_ip_checksum = false;   // the port computes IPv4 header checksums on transmit
  bool tx_udp_checksum = false;  // ... and UDP checksums
  bool rx_checksum = false;      // it verifies them on receive
  // Without offload: frames go from memory to memory (net_memif) and [transport]
  // udp_checksum = "auto", so UDP checksums are neither computed nor checked (field 0).
  bool udp_checksum_skipped = false;
  uint16_t queues = 1;           // queue pairs configured: one per engine
  uint16_t max_queues = 1;       // what the device offers
  // Set when the port spreads received packets over its queues by RSS (Toeplitz with the
  // key the daemon programmed): the queue of each redirection-table entry.
  std::vector<uint16_t> reta;
};

struct LinkState {
  bool up = false;
  uint32_t speed_mbps = 0;
};

class Port {
 public:
  // Opens the only port the EAL found (mode "vdev" or "pci"), with `pool_mbufs` buffers
  // that each hold a frame of `rx_frame_bytes` (or of the MTU, if more), and `queues` queue
  // pairs. `mac`, when set, replaces the port's own address. With several
  // queues, programs RSS with `rss_key` where the device can. `udp_checksum` says whether a
  // memory-to-memory port (net_memif) without offload may skip UDP checksums.
  static Result<std::unique_ptr<Port>> open_single(uint32_t mtu, uint32_t rx_frame_bytes, uint32_t pool_mbufs,
                                                  std::optional<MacAddress> mac, uint16_t queues,
                                                  const uint8_t* rss_key, uint8_t rss_key_len, UdpChecksum udp_checksum);

  // Bytes of one packet buffer (headroom included) for frames of `rx_frame_bytes` or `mtu`.
  static uint32_t buffer_bytes(uint32_t mtu, uint32_t rx_frame_bytes);
  ~Port();

  const PortInfo& info() const { return info_; }
  LinkState link() const;
  rte_eth_stats stats() const;
  rte_mempool* pool() const { return pool_; }

  // Engine thread only.
  // Engine thread only: each engine uses its own queue.
  uint16_t rx_burst_st(uint16_t queue, rte_mbuf** mbufs, uint16_t n) {
    return rte_eth_rx_burst(info_.port_id, queue, mbufs, n);
  }
  uint16_t tx_burst_st(uint16_t queue, rte_mbuf** mbufs, uint16_t n) {
    return rte_eth_tx_burst(info_.port_id, queue, mbufs, n);
  }

 private:
  Port() = default;
  PortInfo info_;
  rte_mempool* pool_ = nullptr;
  bool started_ = false;
};

}  // namespace machnet::dpdk
