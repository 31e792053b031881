// What `[transport] mtu = "auto"` (the shipped default) becomes: the largest IP packet the
// link carries, so that large messages cross in as few frames as the link allows (an 8 MiB
// message is 5 900 frames at 1500, 940 at 9000; each costs the engines, the PMD and, on
// af_packet, the kernel about the same whatever its size). Also what the port's packet
// buffers must hold to receive that link's frames whole.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "util/result.h"

namespace machnet::dpdk {

inline constexpr uint32_t kDefaultMtu = 1500;  // any link, when nothing better is known
inline constexpr uint32_t kMaxMtu = 9000;      // the largest [transport] mtu takes
// net_memif's own buffer size when its vdev names no bsize.
inline constexpr uint32_t kMemifDefaultBufferSize = 2048;

struct LinkMtu {
  uint32_t mtu = kDefaultMtu;  // IP MTU the transport sends at
  std::string vdev;            // the vdev to open: a net_memif one gains bsize= when it needs it
  uint32_t rx_frame_bytes = 0;  // largest Ethernet frame the link delivers in one buffer
  std::string source;           // for the log: where the MTU came from
};

// An interface's MTU in this network namespace (ioctl SIOCGIFMTU); nullopt if there is none.
std::optional<uint32_t> kernel_interface_mtu(std::string_view ifname);

// The MTU for `configured` (nullopt: "auto") on the port a config opens:
// - net_memif: 9000 (a memory link has no wire to limit it). DPDK 22.11's memif receive puts
//   each of the peer's ring buffers in a packet buffer of its own, and the engine takes only
//   whole frames, so one ring buffer (bsize) must hold a frame: the vdev gains bsize= to fit
//   when it names none, and an explicit bsize caps "auto".
// - net_af_packet: the kernel interface's MTU (`iface=`), at most 9000 and what its ring
//   frames (framesz) hold.
// - mode "pci": `detected` (from the cloud's metadata or the interface, before DPDK took
//   it), else 1500.
// - anything else: 1500.
// A configured value is taken as it is, except that a net_memif bsize too small for it is an
// error naming both keys.
Result<LinkMtu> resolve_link_mtu(std::optional<uint32_t> configured, NicMode mode, std::string_view vdev,
                                 std::optional<uint32_t> detected,
                                 const std::function<std::optional<uint32_t>(std::string_view)>& interface_mtu =
                                     kernel_interface_mtu);

}  // namespace machnet::dpdk
