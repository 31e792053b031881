#include "net/packet_parser.h"

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>

#include "net/checksum.h"

namespace machnet::net {
namespace {

ParsedFrame drop(DropReason reason) {
  ParsedFrame f;
  f.kind = FrameKind::kDrop;
  f.drop = reason;
  return f;
}

MacAddress mac_of(const rte_ether_addr& a) {
  MacAddress m;
  std::memcpy(m.bytes.data(), a.addr_bytes, 6);
  return m;
}

bool is_broadcast(const rte_ether_addr& a) {
  return std::all_of(std::begin(a.addr_bytes), std::end(a.addr_bytes), [](uint8_t b) { return b == 0xff; });
}

ParsedFrame parse_arp(const uint8_t* frame, uint32_t len, const Interface& me) {
  if (len < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) [[unlikely]]
    return drop(DropReason::kTooShort);
  const auto* arp = reinterpret_cast<const rte_arp_hdr*>(frame + sizeof(rte_ether_hdr));
  const uint16_t opcode = rte_be_to_cpu_16(arp->arp_opcode);
  if (rte_be_to_cpu_16(arp->arp_hardware) != RTE_ARP_HRD_ETHER ||
      rte_be_to_cpu_16(arp->arp_protocol) != RTE_ETHER_TYPE_IPV4 || arp->arp_hlen != RTE_ETHER_ADDR_LEN ||
      arp->arp_plen != 4 || (opcode != RTE_ARP_OP_REQUEST && opcode != RTE_ARP_OP_REPLY)) [[unlikely]]
    return drop(DropReason::kBadArp);
  ParsedFrame f;
  f.kind = FrameKind::kArp;
  f.arp.opcode = opcode;
  f.arp.sender_mac = mac_of(arp->arp_data.arp_sha);
  f.arp.sender_ip = Ipv4Address{rte_be_to_cpu_32(arp->arp_data.arp_sip)};
  f.arp.target_ip = Ipv4Address{rte_be_to_cpu_32(arp->arp_data.arp_tip)};
  // Requests for other hosts are none of our business; replies (and gratuitous ARP) teach
  // us the sender's address whoever they were meant for.
  if (opcode == RTE_ARP_OP_REQUEST && f.arp.target_ip != me.ip) return drop(DropReason::kNotForUs);
  return f;
}

ParsedFrame parse_icmp(const uint8_t* frame, uint32_t l3, uint32_t ip_len, uint32_t ihl) {
  const uint32_t icmp_len = ip_len - ihl;
  if (icmp_len < sizeof(rte_icmp_hdr)) [[unlikely]]
    return drop(DropReason::kTooShort);
  const auto* icmp = reinterpret_cast<const rte_icmp_hdr*>(frame + l3 + ihl);
  if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0) [[unlikely]]
    return drop(DropReason::kUnsupportedIcmp);
  if (rte_raw_cksum(icmp, icmp_len) != 0xffff) [[unlikely]]
    return drop(DropReason::kBadIcmpChecksum);
  ParsedFrame f;
  f.kind = FrameKind::kIcmpEcho;
  f.l3_offset = l3;
  return f;
}

ParsedFrame parse_udp(const uint8_t* frame, uint32_t l3, uint32_t ip_len, uint32_t ihl, RxOffloads offloads) {
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(frame + l3);
  const uint32_t l4 = l3 + ihl;
  if (ip_len - ihl < sizeof(rte_udp_hdr)) [[unlikely]]
    return drop(DropReason::kTooShort);
  const auto* udp = reinterpret_cast<const rte_udp_hdr*>(frame + l4);
  const uint32_t udp_len = rte_be_to_cpu_16(udp->dgram_len);
  if (udp_len != ip_len - ihl) [[unlikely]]
    return drop(DropReason::kBadUdpLength);
  // Machnet always checksums: a zero checksum ("none") is as bad as a wrong one, since
  // the checksum is what catches corruption on links that do not.
  if (!offloads.l4_checksum_good && (udp->dgram_cksum == 0 || !udp_checksum_verifies(ip, udp, udp_len)))
      [[unlikely]]
    return drop(DropReason::kBadUdpChecksum);
  if (udp_len < sizeof(rte_udp_hdr) + kMachnetHeaderSize) [[unlikely]]
    return drop(DropReason::kBadMagic);  // too short to be Machnet at all
  const uint8_t* mh = frame + l4 + sizeof(rte_udp_hdr);
  if (((mh[wire_offset::kMagic] << 8) | mh[wire_offset::kMagic + 1]) != kWireMagic) [[unlikely]]
    return drop(DropReason::kBadMagic);
  if (mh[wire_offset::kVersion] != kWireVersion) [[unlikely]]
    return drop(DropReason::kBadVersion);

  ParsedFrame f;
  f.kind = FrameKind::kMachnet;
  f.l3_offset = l3;
  auto& m = f.machnet;
  m.header = decode_machnet_header(mh);
  m.src_mac = mac_of(reinterpret_cast<const rte_ether_hdr*>(frame)->src_addr);
  m.src_ip = Ipv4Address{rte_be_to_cpu_32(ip->src_addr)};
  m.dst_ip = Ipv4Address{rte_be_to_cpu_32(ip->dst_addr)};
  m.src_port = rte_be_to_cpu_16(udp->src_port);
  m.dst_port = rte_be_to_cpu_16(udp->dst_port);
  m.payload_offset = l4 + sizeof(rte_udp_hdr) + kMachnetHeaderSize;
  m.payload_len = udp_len - sizeof(rte_udp_hdr) - kMachnetHeaderSize;
  const uint8_t flags = m.header.flags;
  // Data needs a payload, except an empty message (FIRST|LAST, msg_len 0); only data carries
  // one; a message length only on a first segment.
  const bool is_data = flags & kFlagData;
  const bool empty_message = (flags & (kFlagFirst | kFlagLast)) == (kFlagFirst | kFlagLast) && m.header.msg_len == 0;
  if ((is_data ? m.payload_len == 0 && !empty_message : m.payload_len > 0) ||
      (!is_data && (flags & (kFlagFirst | kFlagLast))) ||
      (!(flags & kFlagFirst) && m.header.msg_len != 0) || (is_data && (flags & (kFlagSyn | kFlagSynAck)))) [[unlikely]]
    return drop(DropReason::kBadMachnetHeader);
  return f;
}

}  // namespace

ParsedFrame parse_frame(const uint8_t* frame, uint32_t len, const Interface& me, RxOffloads offloads) {
  if (len < sizeof(rte_ether_hdr)) [[unlikely]]
    return drop(DropReason::kTooShort);
  const auto* eth = reinterpret_cast<const rte_ether_hdr*>(frame);
  if (std::memcmp(eth->dst_addr.addr_bytes, me.mac.bytes.data(), 6) != 0 && !is_broadcast(eth->dst_addr))
    return drop(DropReason::kNotForUs);
  const uint16_t ether_type = rte_be_to_cpu_16(eth->ether_type);
  if (ether_type == RTE_ETHER_TYPE_ARP) return parse_arp(frame, len, me);
  if (ether_type != RTE_ETHER_TYPE_IPV4) [[unlikely]]
    return drop(DropReason::kUnsupportedEtherType);

  const uint32_t l3 = sizeof(rte_ether_hdr);
  if (len < l3 + sizeof(rte_ipv4_hdr)) [[unlikely]]
    return drop(DropReason::kTooShort);
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(frame + l3);
  const uint32_t ihl = static_cast<uint32_t>(ip->ihl) * 4;
  const uint32_t ip_len = rte_be_to_cpu_16(ip->total_length);
  // Frames may carry padding after the IP packet (60-byte minimum), never less than it.
  if (ip->version != 4 || ihl < sizeof(rte_ipv4_hdr) || ip_len < ihl || ip_len > len - l3) [[unlikely]]
    return drop(DropReason::kBadIpHeader);
  if (!offloads.ip_checksum_good && rte_raw_cksum(ip, ihl) != 0xffff) [[unlikely]]
    return drop(DropReason::kBadIpChecksum);
  if ((rte_be_to_cpu_16(ip->fragment_offset) & (RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0) [[unlikely]]
    return drop(DropReason::kIpFragment);
  if (rte_be_to_cpu_32(ip->dst_addr) != me.ip.value) return drop(DropReason::kNotForUs);

  switch (ip->next_proto_id) {
    case IPPROTO_UDP: return parse_udp(frame, l3, ip_len, ihl, offloads);
    case IPPROTO_ICMP: return parse_icmp(frame, l3, ip_len, ihl);
    default: return drop(DropReason::kUnsupportedIpProtocol);
  }
}

}  // namespace machnet::net
