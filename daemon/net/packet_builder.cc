#include "net/packet_builder.h"

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf_core.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "net/checksum.h"

namespace machnet::net {
namespace {

// Pointers, not references: the DPDK headers are packed structs.
void set_mac(rte_ether_addr* out, const MacAddress& mac) { std::memcpy(out->addr_bytes, mac.bytes.data(), 6); }

constexpr MacAddress kBroadcast{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
constexpr uint8_t kTtl = 64;

uint32_t build_arp(uint8_t* frame, uint16_t opcode, const MacAddress& eth_dst, const MacAddress& my_mac,
                   Ipv4Address my_ip, const MacAddress& target_mac, Ipv4Address target_ip) {
  std::memset(frame, 0, kArpFrameSize);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(frame);
  set_mac(&eth->dst_addr, eth_dst);
  set_mac(&eth->src_addr, my_mac);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(frame + sizeof(rte_ether_hdr));
  arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = 4;
  arp->arp_opcode = rte_cpu_to_be_16(opcode);
  set_mac(&arp->arp_data.arp_sha, my_mac);
  arp->arp_data.arp_sip = rte_cpu_to_be_32(my_ip.value);
  set_mac(&arp->arp_data.arp_tha, target_mac);
  arp->arp_data.arp_tip = rte_cpu_to_be_32(target_ip.value);
  return kArpFrameSize;
}

}  // namespace

void write_machnet_headers(uint8_t* frame, const FlowAddress& flow, const MachnetHeader& header,
                           uint32_t payload_len, TxChecksum checksum) {
  auto* eth = reinterpret_cast<rte_ether_hdr*>(frame);
  set_mac(&eth->dst_addr, flow.dst_mac);
  set_mac(&eth->src_addr, flow.src_mac);
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);

  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(frame + kEthernetHeaderSize);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = 0;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(kIpv4HeaderSize + kUdpHeaderSize + kMachnetHeaderSize + payload_len));
  ip->packet_id = 0;
  ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);  // we never fragment
  ip->time_to_live = kTtl;
  ip->next_proto_id = IPPROTO_UDP;
  ip->hdr_checksum = 0;
  ip->src_addr = rte_cpu_to_be_32(flow.src_ip.value);
  ip->dst_addr = rte_cpu_to_be_32(flow.dst_ip.value);

  auto* udp = reinterpret_cast<rte_udp_hdr*>(frame + kEthernetHeaderSize + kIpv4HeaderSize);
  udp->src_port = rte_cpu_to_be_16(flow.src_port);
  udp->dst_port = rte_cpu_to_be_16(flow.dst_port);
  udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(kUdpHeaderSize + kMachnetHeaderSize + payload_len));
  udp->dgram_cksum = 0;

  encode_machnet_header(header, frame + kEthernetHeaderSize + kIpv4HeaderSize + kUdpHeaderSize);

  if (checksum == TxChecksum::kOffload) {
    udp->dgram_cksum = rte_ipv4_phdr_cksum(ip, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM);
  } else {
    ip->hdr_checksum = rte_ipv4_cksum(ip);
  }
}

void finish_udp_checksum(uint8_t* frame) {
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(frame + kEthernetHeaderSize);
  const uint32_t payload_len = rte_be_to_cpu_16(ip->total_length) - (kIpv4HeaderSize + kUdpHeaderSize + kMachnetHeaderSize);
  finish_udp_checksum(frame, raw_sum(frame + kFrameOverhead, payload_len));
}

void finish_udp_checksum(uint8_t* frame, uint16_t payload_sum) {
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(frame + kEthernetHeaderSize);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(frame + kEthernetHeaderSize + kIpv4HeaderSize);
  constexpr size_t kHeaders = kUdpHeaderSize + kMachnetHeaderSize;  // the payload follows them
  udp->dgram_cksum = 0;
  udp->dgram_cksum = udp_checksum_field(
      fold_sum(uint64_t{raw_sum(udp, kHeaders)} + sum_at(payload_sum, kHeaders) + rte_ipv4_phdr_cksum(ip, 0)));
}

uint32_t build_arp_request(uint8_t* frame, const MacAddress& my_mac, Ipv4Address my_ip, Ipv4Address target_ip) {
  return build_arp(frame, RTE_ARP_OP_REQUEST, kBroadcast, my_mac, my_ip, MacAddress{}, target_ip);
}

uint32_t build_arp_reply(uint8_t* frame, const MacAddress& my_mac, Ipv4Address my_ip, const MacAddress& to_mac,
                         Ipv4Address to_ip) {
  return build_arp(frame, RTE_ARP_OP_REPLY, to_mac, my_mac, my_ip, to_mac, to_ip);
}

uint32_t build_gratuitous_arp(uint8_t* frame, const MacAddress& my_mac, Ipv4Address my_ip) {
  return build_arp(frame, RTE_ARP_OP_REQUEST, kBroadcast, my_mac, my_ip, MacAddress{}, my_ip);
}

void make_icmp_echo_reply(uint8_t* frame, uint32_t l3_offset, const MacAddress& me) {
  auto* eth = reinterpret_cast<rte_ether_hdr*>(frame);
  eth->dst_addr = eth->src_addr;
  std::memcpy(eth->src_addr.addr_bytes, me.bytes.data(), RTE_ETHER_ADDR_LEN);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(frame + l3_offset);
  const uint32_t src = ip->src_addr;
  ip->src_addr = ip->dst_addr;
  ip->dst_addr = src;
  ip->time_to_live = kTtl;
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  const uint32_t ihl = static_cast<uint32_t>(ip->ihl) * 4;
  const uint32_t icmp_len = rte_be_to_cpu_16(ip->total_length) - ihl;
  auto* icmp = reinterpret_cast<rte_icmp_hdr*>(frame + l3_offset + ihl);
  icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
  icmp->icmp_cksum = 0;
  const uint16_t sum = rte_raw_cksum(icmp, icmp_len);
  icmp->icmp_cksum = static_cast<uint16_t>(~sum);
}

}  // namespace machnet::net
