#include "dpdk/port.h"

#include "dpdk/frame_limit.h"

#include <rte_errno.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace machnet::dpdk {
namespace {

constexpr uint16_t kRingSize = 1024;
constexpr uint32_t kMbufCache = 256;

std::string dpdk_error(int rc) { return rte_strerror(rc < 0 ? -rc : rc); }

}  // namespace

uint32_t Port::buffer_bytes(uint32_t mtu, uint32_t rx_frame_bytes) {
  const uint32_t frame = std::max(mtu + RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN, rx_frame_bytes);
  return std::max<uint32_t>(RTE_PKTMBUF_HEADROOM + frame, RTE_MBUF_DEFAULT_BUF_SIZE);
}

Result<std::unique_ptr<Port>> Port::open_single(uint32_t mtu, uint32_t rx_frame_bytes, uint32_t pool_mbufs,
                                                std::optional<MacAddress> want_mac, uint16_t queues,
                                                const uint8_t* rss_key, uint8_t rss_key_len, UdpChecksum udp_checksum) {
  const uint16_t count = rte_eth_dev_count_avail();
  if (count == 0)
    return make_error("DPDK found no port: check [nic] vdev (or pci) and that its driver is loaded");
  if (count > 1) spdlog::warn("DPDK found {} ports; using the first", count);
  const uint16_t port_id = static_cast<uint16_t>(rte_eth_find_next_owned_by(0, RTE_ETH_DEV_NO_OWNER));

  std::unique_ptr<Port> port(new Port());
  PortInfo& info = port->info_;
  info.port_id = port_id;
  char name[RTE_ETH_NAME_MAX_LEN] = {};
  rte_eth_dev_get_name_by_port(port_id, name);
  info.name = name;

  rte_eth_dev_info dev{};
  if (int rc = rte_eth_dev_info_get(port_id, &dev); rc != 0)
    return make_error(fmt::format("port {}: cannot read device info: {}", info.name, dpdk_error(rc)));
  info.driver = dev.driver_name ? dev.driver_name : "";
  rte_ether_addr mac{};
  if (want_mac) {
    std::memcpy(mac.addr_bytes, want_mac->bytes.data(), 6);
    if (int rc = rte_eth_dev_default_mac_addr_set(port_id, &mac); rc != 0)
      spdlog::warn("port {}: cannot set MAC {} ({}); using the port's own", info.name, want_mac->to_string(), dpdk_error(rc));
  }
  rte_eth_macaddr_get(port_id, &mac);
  std::memcpy(info.mac.bytes.data(), mac.addr_bytes, 6);

  // Checksum offloads where the port has them; software otherwise (af_packet, memif, ...).
  rte_eth_conf conf{};
  const uint64_t tx_wanted = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  if ((dev.tx_offload_capa & tx_wanted) == tx_wanted) {
    conf.txmode.offloads |= tx_wanted;
    info.tx_ip_checksum = info.tx_udp_checksum = true;
  }
  const uint64_t rx_wanted = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  if ((dev.rx_offload_capa & rx_wanted) == rx_wanted) {
    conf.rxmode.offloads |= rx_wanted;
    info.rx_checksum = true;
  }
  // A memif frame is copied from one process's memory into the other's and never crosses a
  // wire: nothing on the way can corrupt it, as nothing does between a NIC that checks sums
  // and the daemon. Summing each payload there cost about 40 ns a packet, about 4 % of a 1 KB
  // round trip's CPU (docs/PERFORMANCE.md); upstream Machnet sends no UDP checksum on such
  // ports at all.
  info.udp_checksum_skipped = !(info.tx_udp_checksum && info.rx_checksum) && info.driver == "net_memif" &&
                              udp_checksum == UdpChecksum::kAuto;
  // The MTU, capped by what the port supports: configuring more fails with EINVAL and stops
  // the start. net_memif and net_af_packet (DPDK 22.11) say 1500 but carry more: memif in
  // ring buffers of its bsize, af_packet up to its framesz and the kernel interface's MTU
  // (dpdk/link_mtu.h checks both). They are configured at what they accept and sent the
  // larger frames, which neither driver checks against it.
  const uint32_t port_max = port_max_mtu(dev.max_rx_pktlen, dev.max_mtu);
  conf.rxmode.mtu = std::min(mtu, port_max);
  const bool carries_more = info.driver == "net_memif" || info.driver == "net_af_packet";
  info.mtu = carries_more ? mtu : conf.rxmode.mtu;
  if (info.mtu < mtu) spdlog::warn("port {}: MTU {} capped to the port's maximum {}", info.name, mtu, info.mtu);

  // One queue pair per engine: the device must have them.
  info.max_queues = std::min(dev.max_rx_queues, dev.max_tx_queues);
  if (queues > info.max_queues)
    return make_error(fmt::format("[engine] cores lists {} cores (one engine and queue pair each), but port {} ({}) "
                                  "has only {} queue pair(s): list at most {} cores{}",
                                  queues, info.name, info.driver, info.max_queues, info.max_queues,
                                  info.driver == "net_af_packet" ? ", or add qpairs=N to the vdev's arguments" : ""));
  info.queues = queues;
  // RSS spreads flows over the queues where the device can hash UDP/IPv4; elsewhere
  // (af_packet fans out by the kernel's hash, memif has none) the engines steer packets
  // to each other.
  const uint64_t rss_hf = dev.flow_type_rss_offloads & (RTE_ETH_RSS_NONFRAG_IPV4_UDP | RTE_ETH_RSS_IPV4);
  const bool rss = queues > 1 && (rss_hf & RTE_ETH_RSS_NONFRAG_IPV4_UDP) && dev.reta_size > 0 &&
                   (dev.hash_key_size == 0 || dev.hash_key_size == rss_key_len);
  if (rss) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_key = const_cast<uint8_t*>(rss_key);
    conf.rx_adv_conf.rss_conf.rss_key_len = rss_key_len;
    conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
  }

  if (int rc = rte_eth_dev_configure(port_id, queues, queues, &conf); rc != 0)
    return make_error(fmt::format("port {}: configure with {} queue pair(s) failed: {}", info.name, queues, dpdk_error(rc)));
  uint16_t rx_ring = kRingSize, tx_ring = kRingSize;
  rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_ring, &tx_ring);

  const int socket = rte_eth_dev_socket_id(port_id);
  // Each received frame whole in one buffer: the parser takes no chained frames.
  const uint32_t data_room = buffer_bytes(info.mtu, rx_frame_bytes);
  port->pool_ = rte_pktmbuf_pool_create(fmt::format("mn_pool_{}", port_id).c_str(), pool_mbufs, kMbufCache, 0,
                                        static_cast<uint16_t>(data_room), socket < 0 ? SOCKET_ID_ANY : socket);
  if (port->pool_ == nullptr)
    return make_error(fmt::format("port {}: cannot create a pool of {} packet buffers: {}; raise [dpdk] memory_mb",
                                  info.name, pool_mbufs, rte_strerror(rte_errno)));
  rte_eth_txconf txconf = dev.default_txconf;
  txconf.offloads = conf.txmode.offloads;
  for (uint16_t q = 0; q < queues; ++q) {
    if (int rc = rte_eth_rx_queue_setup(port_id, q, rx_ring, socket, nullptr, port->pool_); rc != 0)
      return make_error(fmt::format("port {}: RX queue {} setup failed: {}", info.name, q, dpdk_error(rc)));
    if (int rc = rte_eth_tx_queue_setup(port_id, q, tx_ring, socket, &txconf); rc != 0)
      return make_error(fmt::format("port {}: TX queue {} setup failed: {}", info.name, q, dpdk_error(rc)));
  }
  if (int rc = rte_eth_dev_start(port_id); rc != 0)
    return make_error(fmt::format("port {}: start failed: {}", info.name, dpdk_error(rc)));
  port->started_ = true;
  if (rss) {
    // Entry i to queue i mod queues, written explicitly: the engines compute the same.
    std::vector<rte_eth_rss_reta_entry64> reta((dev.reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE);
    info.reta.resize(dev.reta_size);
    for (uint16_t i = 0; i < dev.reta_size; ++i) {
      info.reta[i] = static_cast<uint16_t>(i % queues);
      auto& group = reta[i / RTE_ETH_RETA_GROUP_SIZE];
      group.mask |= uint64_t{1} << (i % RTE_ETH_RETA_GROUP_SIZE);
      group.reta[i % RTE_ETH_RETA_GROUP_SIZE] = info.reta[i];
    }
    if (int rc = rte_eth_dev_rss_reta_update(port_id, reta.data(), dev.reta_size); rc != 0) {
      spdlog::warn("port {}: cannot program the RSS redirection table ({}); engines steer packets to each other",
                   info.name, dpdk_error(rc));
      info.reta.clear();
    }
  }
  // Frames for our MAC are enough, but virtual devices (af_packet) hand up whatever the
  // interface sees; the parser drops what is not ours.
  rte_eth_promiscuous_disable(port_id);
  spdlog::info("port {} ({}): MAC {}, MTU {}, checksum offload tx {} rx {}{}, {} queue pair(s){}", info.name, info.driver,
               info.mac.to_string(), info.mtu, info.tx_udp_checksum ? "yes" : "no", info.rx_checksum ? "yes" : "no",
               info.udp_checksum_skipped ? " (memory link: no UDP checksums, [transport] udp_checksum = \"auto\")" : "",
               info.queues, info.queues > 1 ? (info.reta.empty() ? ", no RSS: engines steer" : ", RSS") : "");
  return port;
}

Port::~Port() {
  if (started_) {
    rte_eth_dev_stop(info_.port_id);
    rte_eth_dev_close(info_.port_id);
  }
  if (pool_) rte_mempool_free(pool_);
}

LinkState Port::link() const {
  rte_eth_link link{};
  rte_eth_link_get_nowait(info_.port_id, &link);
  return {link.link_status == RTE_ETH_LINK_UP, link.link_speed};
}

rte_eth_stats Port::stats() const {
  rte_eth_stats s{};
  rte_eth_stats_get(info_.port_id, &s);
  return s;
}

}  // namespace machnet::dpdk
