// Classifies a received Ethernet frame: ARP for us, an ICMP echo request for us, a Machnet
// packet for us, or a drop with its reason. Every field is checked before it is used; the
// frame is never written. Pure function: no DPDK state, testable and fuzzable on bytes.
#pragma once

#include <cstdint>

#include "config/net_types.h"
#include "net/drop_reason.h"
#include "net/wire_format.h"

namespace machnet::net {

// The addresses a port answers to.
struct Interface {
  MacAddress mac;
  Ipv4Address ip;
};

enum class FrameKind : uint8_t { kDrop, kArp, kIcmpEcho, kMachnet };

// Checksums the NIC already verified (from the mbuf's offload flags): skip them in software.
struct RxOffloads {
  bool ip_checksum_good = false;
  bool l4_checksum_good = false;
};

struct ArpInfo {
  uint16_t opcode = 0;  // 1 request, 2 reply
  MacAddress sender_mac;
  Ipv4Address sender_ip;
  Ipv4Address target_ip;
};

struct MachnetPacketInfo {
  MacAddress src_mac;
  Ipv4Address src_ip;
  Ipv4Address dst_ip;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  MachnetHeader header;
  uint32_t payload_offset = 0;  // from the start of the frame
  uint32_t payload_len = 0;
};

struct ParsedFrame {
  FrameKind kind = FrameKind::kDrop;
  DropReason drop = DropReason::kTooShort;  // valid when kind == kDrop
  ArpInfo arp;                              // valid when kind == kArp
  MachnetPacketInfo machnet;                // valid when kind == kMachnet
  uint32_t l3_offset = 0;                   // IPv4 header, for kIcmpEcho and kMachnet
};

// `frame` must be 2-byte aligned (mbuf data is).
ParsedFrame parse_frame(const uint8_t* frame, uint32_t len, const Interface& me, RxOffloads offloads = {});

}  // namespace machnet::net
