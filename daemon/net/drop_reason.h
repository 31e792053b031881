// Why a received frame was dropped. Each reason is a counter (machnetctl stats), never a
// log line: bad frames can arrive at line rate.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace machnet::net {

enum class DropReason : uint8_t {
  kTooShort,               // shorter than the headers it claims
  kNotForUs,               // another MAC or IP address
  kUnsupportedEtherType,   // not IPv4 or ARP (IPv6, VLAN, LLDP, ...)
  kBadArp,                 // not Ethernet/IPv4 ARP, or an unknown opcode
  kBadIpHeader,            // version, header length or total length wrong
  kBadIpChecksum,
  kIpFragment,             // Machnet never fragments; neither do we reassemble
  kUnsupportedIpProtocol,  // not UDP or ICMP
  kUnsupportedIcmp,        // ICMP other than echo request
  kBadIcmpChecksum,
  kBadUdpLength,
  kBadUdpChecksum,         // also: no checksum at all (Machnet sends one except on memif, udp_checksum "auto")
  kBadMagic,               // UDP to us, but not Machnet
  kBadVersion,
  kBadMachnetHeader,       // flags or lengths that cannot be
  kUnknownFlow,            // decided by the engine: no flow or listener for it
  kChainedFrame,           // spread over several mbufs (longer than a segment): we parse one
  kSynOnLiveFlow,          // a SYN with another conn_id on a live flow: challenge-ACKed, not taken
  kCount
};

inline constexpr std::array<std::string_view, static_cast<size_t>(DropReason::kCount)> kDropReasonNames = {
    "too_short",       "not_for_us",       "unsupported_ethertype", "bad_arp",
    "bad_ip_header",   "bad_ip_checksum",  "ip_fragment",           "unsupported_ip_protocol",
    "unsupported_icmp", "bad_icmp_checksum", "bad_udp_length",      "bad_udp_checksum",
    "bad_magic",       "bad_version",      "bad_machnet_header",    "unknown_flow",
    "chained_frame",   "syn_on_live_flow",
};

constexpr std::string_view to_string(DropReason reason) {
  return kDropReasonNames[static_cast<size_t>(reason)];
}

}  // namespace machnet::net
