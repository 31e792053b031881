#include "dpdk/frame_limit.h"

#include <rte_ether.h>

#include <algorithm>
#include <charconv>
#include <cstdint>

#include <fmt/format.h>

namespace machnet::dpdk {
namespace {

constexpr uint32_t kEthernetHeader = RTE_ETHER_HDR_LEN;  // without the CRC: what af_packet hands up

}  // namespace

bool vdev_is_af_packet(std::string_view vdev) {
  const std::string_view name = vdev.substr(0, vdev.find(','));
  return name.starts_with("net_af_packet") || name.starts_with("eth_af_packet");
}

std::optional<std::string_view> vdev_argument(std::string_view vdev, std::string_view key) {
  size_t at = vdev.find(',');
  while (at != std::string_view::npos) {
    const size_t start = at + 1;
    at = vdev.find(',', start);
    const std::string_view item = vdev.substr(start, at == std::string_view::npos ? at : at - start);
    if (item.size() > key.size() && item.substr(0, key.size()) == key && item[key.size()] == '=')
      return item.substr(key.size() + 1);
  }
  return std::nullopt;
}

std::optional<uint32_t> vdev_max_rx_frame(std::string_view vdev) {
  if (!vdev_is_af_packet(vdev)) return std::nullopt;
  uint32_t frame_size = kAfPacketDefaultFrameSize;
  if (auto v = vdev_argument(vdev, "framesz")) {
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), frame_size);
    if (ec != std::errc{} || end != v->data() + v->size()) return std::nullopt;
  }
  return frame_size > kAfPacketFrameOffset ? frame_size - kAfPacketFrameOffset : 0;
}

uint32_t port_max_mtu(uint32_t max_rx_pktlen, uint16_t max_mtu) {
  constexpr uint32_t kOverhead = RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;  // DPDK's default
  if (max_mtu != UINT16_MAX && max_rx_pktlen > max_mtu) return max_mtu;
  const uint32_t by_frame = max_rx_pktlen > kOverhead ? max_rx_pktlen - kOverhead : 0;
  return std::min<uint32_t>(max_mtu, by_frame);
}

std::optional<std::string> check_vdev_frame_fits(std::string_view vdev, uint32_t mtu) {
  const auto max_frame = vdev_max_rx_frame(vdev);
  if (!max_frame || mtu + kEthernetHeader <= *max_frame) return std::nullopt;
  const uint32_t frame_size = *max_frame + kAfPacketFrameOffset;
  return fmt::format(
      "[nic] vdev: net_af_packet with framesz={} receives frames of at most {} bytes (the rest of each ring "
      "frame holds the kernel's header), but [transport] mtu = {} sends frames of {} bytes, which would be "
      "cut and dropped: set framesz={} or more in [nic] vdev (2048 is usual; blocksz must stay a multiple of "
      "it), or [transport] mtu = {} or less (on both daemons)",
      frame_size, *max_frame, mtu, mtu + kEthernetHeader, mtu + kEthernetHeader + kAfPacketFrameOffset,
      *max_frame > kEthernetHeader ? *max_frame - kEthernetHeader : 0);
}

}  // namespace machnet::dpdk
