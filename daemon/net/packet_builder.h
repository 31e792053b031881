// Builds the frames the daemon sends: Machnet packets (Ethernet/IPv4/UDP/Machnet header),
// ARP requests and replies, ICMP echo replies. Writes into caller-provided memory (an
// mbuf's data room); never allocates.
#pragma once

#include <cstdint>

#include "config/net_types.h"
#include "net/wire_format.h"

namespace machnet::net {

// The two ends of a flow as they appear in the headers this side sends.
struct FlowAddress {
  MacAddress src_mac;
  MacAddress dst_mac;
  Ipv4Address src_ip;
  Ipv4Address dst_ip;
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
};

enum class TxChecksum : uint8_t {
  kSoftware,  // computed here (finish_udp_checksum once the payload is in place)
  kOffload,   // the NIC computes them: the UDP field holds the pseudo-header sum it expects
  kNone,      // no UDP checksum (field 0) on a link that cannot corrupt frames; IPv4's is computed
};

// Writes the kFrameOverhead bytes of headers for a packet whose payload (payload_len bytes)
// follows them. With kSoftware, call finish_udp_checksum() after writing the payload; kOffload
// and kNone need nothing more.
void write_machnet_headers(uint8_t* frame, const FlowAddress& flow, const MachnetHeader& header,
                           uint32_t payload_len, TxChecksum checksum);

// Computes the UDP checksum of a frame written by write_machnet_headers (headers + payload).
void finish_udp_checksum(uint8_t* frame);
// The same, given the payload's sum (copy_and_sum, as the payload was copied in): only the
// headers are read again.
void finish_udp_checksum(uint8_t* frame, uint16_t payload_sum);

inline constexpr uint32_t kArpFrameSize = 60;  // 42 bytes of ARP, padded to Ethernet's minimum

// An ARP request (who has target_ip?) broadcast from us. Returns the frame length.
uint32_t build_arp_request(uint8_t* frame, const MacAddress& my_mac, Ipv4Address my_ip, Ipv4Address target_ip);
// An ARP reply telling `to_mac`/`to_ip` that my_ip is at my_mac. Returns the frame length.
uint32_t build_arp_reply(uint8_t* frame, const MacAddress& my_mac, Ipv4Address my_ip, const MacAddress& to_mac,
                         Ipv4Address to_ip);
// A gratuitous ARP announcing my_ip at my_mac (a broadcast request for our own address).
uint32_t build_gratuitous_arp(uint8_t* frame, const MacAddress& my_mac, Ipv4Address my_ip);

// Turns a validated ICMP echo request (parse_frame said kIcmpEcho) into its reply, in place:
// addresses swapped, type 0, checksums updated. The frame length does not change.
// `me`: our MAC, the reply's source. Not the request's destination, which may have been the
// broadcast address: a reply must never claim that as its source.
void make_icmp_echo_reply(uint8_t* frame, uint32_t l3_offset, const MacAddress& me);

}  // namespace machnet::net
