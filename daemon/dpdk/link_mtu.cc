#include "dpdk/link_mtu.h"

#include <net/if.h>
#include <rte_ether.h>
#include <rte_mbuf_core.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

#include "dpdk/frame_limit.h"

namespace machnet::dpdk {
namespace {

constexpr uint32_t kEthernetHeader = RTE_ETHER_HDR_LEN;  // what a frame adds to an IP packet (no FCS)
constexpr uint32_t kMinMtu = 576;
constexpr uint32_t kPacketBufferHeadroom = RTE_PKTMBUF_HEADROOM;
constexpr uint32_t kMaxPacketBuffer = UINT16_MAX;  // an mbuf's data room is 16 bits

std::optional<uint32_t> number(std::string_view text) {
  uint32_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return v;
}

Result<LinkMtu> memif(std::optional<uint32_t> configured, std::string_view vdev) {
  LinkMtu out;
  out.vdev = std::string(vdev);
  const auto bsize_arg = vdev_argument(vdev, "bsize");
  const std::optional<uint32_t> bsize = bsize_arg ? number(*bsize_arg) : std::nullopt;
  if (bsize_arg && !bsize)
    return make_error(fmt::format("[nic] vdev: net_memif bsize={} is not a number of bytes", *bsize_arg));
  if (configured) {
    out.mtu = *configured;
    out.source = "[transport] mtu";
  } else {
    out.mtu = bsize ? std::clamp(*bsize - std::min(*bsize, kEthernetHeader), kMinMtu, kMaxMtu) : kMaxMtu;
    out.source = bsize ? "net_memif's bsize" : "a memory link (net_memif)";
  }
  const uint32_t frame = out.mtu + kEthernetHeader;
  if (bsize && *bsize < frame)
    return make_error(fmt::format(
        "[nic] vdev: net_memif with bsize={} carries frames of at most {} bytes in one buffer, but [transport] mtu "
        "= {} sends frames of {} bytes, which the receiving daemon would drop (it takes frames in one buffer "
        "only): set bsize={} or more, or leave bsize out (the daemon then sizes it), or mtu = {} or less",
        *bsize, *bsize, out.mtu, frame, frame, *bsize - std::min(*bsize, kEthernetHeader)));
  if (bsize && kPacketBufferHeadroom + *bsize > kMaxPacketBuffer)
    return make_error(fmt::format("[nic] vdev: net_memif bsize={} is more than a DPDK packet buffer holds: set "
                                  "bsize={} or less, or leave it out (the daemon then sizes it)",
                                  *bsize, kMaxPacketBuffer - kPacketBufferHeadroom));
  uint32_t buffer = bsize.value_or(kMemifDefaultBufferSize);
  if (!bsize && frame > buffer) {
    buffer = (frame + 1023) / 1024 * 1024;
    out.vdev += fmt::format(",bsize={}", buffer);
  }
  out.rx_frame_bytes = buffer;
  return out;
}

Result<LinkMtu> af_packet(std::optional<uint32_t> configured, std::string_view vdev,
                          const std::function<std::optional<uint32_t>(std::string_view)>& interface_mtu) {
  LinkMtu out;
  out.vdev = std::string(vdev);
  const uint32_t ring_frame = vdev_max_rx_frame(vdev).value_or(kDefaultMtu + kEthernetHeader);
  out.rx_frame_bytes = ring_frame + kAfPacketFrameOffset - kAfPacketCopyOffset;  // what the PMD copies
  if (kPacketBufferHeadroom + out.rx_frame_bytes > kMaxPacketBuffer)
    return make_error(fmt::format(
        "[nic] vdev: net_af_packet framesz={} needs packet buffers of {} bytes, more than DPDK's {}: set framesz={} "
        "or less (9216 carries an MTU of 9000)",
        ring_frame + kAfPacketFrameOffset, kPacketBufferHeadroom + out.rx_frame_bytes, kMaxPacketBuffer,
        kMaxPacketBuffer - kPacketBufferHeadroom + kAfPacketCopyOffset));
  const auto iface = vdev_argument(vdev, "iface");
  const std::optional<uint32_t> kernel = iface ? interface_mtu(*iface) : std::nullopt;
  if (configured) {
    out.mtu = *configured;
    out.source = "[transport] mtu";
    // The kernel refuses to send a frame beyond the interface's MTU: every full-size packet
    // would be lost.
    if (kernel && *kernel < out.mtu) {
      out.mtu = std::max(*kernel, kMinMtu);
      out.source = fmt::format("[transport] mtu = {}, capped to interface {}'s MTU", *configured, *iface);
    }
    return out;
  }
  out.mtu = kernel.value_or(kDefaultMtu);
  out.source = kernel ? fmt::format("interface {}", *iface) : "the default (interface MTU unknown)";
  if (out.mtu > kMaxMtu) {
    out.mtu = kMaxMtu;
    out.source += ", capped";
  }
  const uint32_t by_ring = ring_frame > kEthernetHeader ? ring_frame - kEthernetHeader : 0;
  if (out.mtu > by_ring) {
    out.mtu = std::max(by_ring, kMinMtu);
    out.source += ", capped by framesz";
  }
  return out;
}

}  // namespace

std::optional<uint32_t> kernel_interface_mtu(std::string_view ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) return std::nullopt;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  ifreq req{};
  std::memcpy(req.ifr_name, ifname.data(), ifname.size());
  const int rc = ::ioctl(fd, SIOCGIFMTU, &req);
  ::close(fd);
  if (rc != 0 || req.ifr_mtu <= 0) return std::nullopt;
  return static_cast<uint32_t>(req.ifr_mtu);
}

Result<LinkMtu> resolve_link_mtu(std::optional<uint32_t> configured, NicMode mode, std::string_view vdev,
                                 std::optional<uint32_t> detected,
                                 const std::function<std::optional<uint32_t>(std::string_view)>& interface_mtu) {
  if (mode == NicMode::kVdev) {
    if (vdev.starts_with("net_memif")) return memif(configured, vdev);
    if (vdev_is_af_packet(vdev)) return af_packet(configured, vdev, interface_mtu);
  }
  LinkMtu out;
  out.vdev = std::string(vdev);
  if (configured) {
    out.mtu = *configured;
    out.source = "[transport] mtu";
  } else if (mode == NicMode::kPci && detected) {
    out.mtu = std::clamp(*detected, kMinMtu, kMaxMtu);
    out.source = "the detected NIC";
  } else {
    out.source = "the default";
  }
  out.rx_frame_bytes = out.mtu + kEthernetHeader;
  return out;
}

}  // namespace machnet::dpdk
