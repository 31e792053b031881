// The largest frame a port can receive, where its driver limits it below what DPDK's device
// info says, checked against the MTU at start. Today that is net_af_packet: each frame of
// its receive ring (`framesz`) also holds the kernel's packet header, and a longer frame is
// cut short by the kernel, so every full-size packet would be dropped without a word.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace machnet::dpdk {

// Where the kernel puts the frame in a TPACKET_V2 ring slot: TPACKET_ALIGN(TPACKET2_HDRLEN
// (52) + 16) = 80 bytes to the IP header, less 14 for the Ethernet header.
inline constexpr uint32_t kAfPacketFrameOffset = 66;
// What net_af_packet copies from each ring frame into one packet buffer: framesz less this.
// Its queue setup refuses packet buffers smaller than that.
inline constexpr uint32_t kAfPacketCopyOffset = 32;
inline constexpr uint32_t kAfPacketDefaultFrameSize = 2048;  // DPDK's default framesz

// Whether a vdev string names net_af_packet (or its old name, eth_af_packet).
bool vdev_is_af_packet(std::string_view vdev);

// The value of `key=` among a vdev string's comma-separated arguments after the device name.
std::optional<std::string_view> vdev_argument(std::string_view vdev, std::string_view key);

// The longest Ethernet frame (without FCS) the port described by a vdev string
// ("net_af_packet0,iface=eth1,framesz=1536,...") receives whole; nullopt for other drivers
// or an unreadable framesz (the driver itself then refuses it).
std::optional<uint32_t> vdev_max_rx_frame(std::string_view vdev);

// The largest MTU a port accepts, by the rule rte_eth_dev_configure applies to rxmode.mtu:
// at most max_mtu, and the MTU plus the port's layer-2 overhead at most max_rx_pktlen. The
// overhead is max_rx_pktlen - max_mtu when the driver reports a max_mtu below it, else the
// Ethernet header and CRC (18 bytes). net_memif and net_af_packet (DPDK 22.11) report no
// max_mtu (UINT16_MAX) and frames of 1518 bytes: 1500, whatever the kernel interface allows.
uint32_t port_max_mtu(uint32_t max_rx_pktlen, uint16_t max_mtu);

// An error naming the keys to change when frames of `mtu` (IP MTU, 14 bytes of Ethernet on
// top) do not fit what the vdev receives; nullopt when they fit or nothing is known.
std::optional<std::string> check_vdev_frame_fits(std::string_view vdev, uint32_t mtu);

}  // namespace machnet::dpdk
