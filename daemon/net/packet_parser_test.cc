// Covers: parse_frame and the builders together — every frame the daemon builds parses back
// to what was built; every truncation of a valid frame and every corrupted field is dropped
// with the right reason, never read past its end (ASan runs this too).
#include "net/packet_parser.h"

#include <arpa/inet.h>

#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "net/checksum.h"
#include "net/packet_builder.h"

namespace machnet::net {
namespace {

const MacAddress kMyMac = *MacAddress::parse("02:00:00:00:00:01");
const MacAddress kPeerMac = *MacAddress::parse("02:00:00:00:00:02");
const Ipv4Address kMyIp = *Ipv4Address::parse("10.0.0.1");
const Ipv4Address kPeerIp = *Ipv4Address::parse("10.0.0.2");
const Interface kMe{kMyMac, kMyIp};

// Frames live in 2-byte-aligned storage, as in an mbuf.
struct Frame {
  alignas(8) uint8_t bytes[2048] = {};
  uint32_t len = 0;
};

Frame machnet_frame(uint32_t payload_len, uint8_t flags = kFlagData | kFlagFirst | kFlagLast) {
  Frame f;
  FlowAddress flow{kPeerMac, kMyMac, kPeerIp, kMyIp, 40000, 888};
  MachnetHeader h;
  h.flags = flags;
  h.conn_id = 0xabcdef01;
  h.seq = 7;
  h.ack = 3;
  h.sack[0] = 0x8000000000000001ull;
  h.sack[1] = 0x5;
  h.tsval = 123456;
  h.tsecr = 654321;
  h.window = 64;
  h.msg_len = (flags & kFlagFirst) ? payload_len : 0;
  write_machnet_headers(f.bytes, flow, h, payload_len, TxChecksum::kSoftware);
  for (uint32_t i = 0; i < payload_len; ++i) f.bytes[kFrameOverhead + i] = static_cast<uint8_t>(i * 7);
  finish_udp_checksum(f.bytes);
  f.len = kFrameOverhead + payload_len;
  return f;
}

TEST(PacketParser, ChecksumFromThePayloadSumIsTheFullPassOne) {
  // The transmit path sums the payload as it copies it in and hands finish_udp_checksum
  // that sum: the field must be the one the full pass computes, and verify.
  for (uint32_t n : {0u, 1u, 31u, 32u, 33u, 100u, 1024u, 1423u, 1424u}) {
    Frame f = machnet_frame(n);
    auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(f.bytes + kEthernetHeaderSize);
    uint8_t* udp = f.bytes + kEthernetHeaderSize + kIpv4HeaderSize;
    uint16_t from_sum;
    std::memset(udp + 6, 0, 2);  // the field zero, as the whole-datagram pass takes it
    const uint16_t full = udp_checksum(ip, udp, static_cast<uint32_t>(kUdpHeaderSize + kMachnetHeaderSize + n));
    finish_udp_checksum(f.bytes, raw_sum(f.bytes + kFrameOverhead, n));
    std::memcpy(&from_sum, f.bytes + kEthernetHeaderSize + kIpv4HeaderSize + 6, 2);
    EXPECT_EQ(from_sum, full) << n;
    EXPECT_EQ(parse_frame(f.bytes, f.len, kMe).kind, FrameKind::kMachnet) << n;
  }
}

// A memory link ([transport] udp_checksum = "auto" on net_memif): the UDP field is 0 ("no
// checksum"), the IPv4 header checksum is still right, and such a frame parses only where
// the port vouches for it (RxOffloads, as PortIo sets it on that link); elsewhere it is a
// bad UDP checksum, as before.
TEST(PacketParser, NoUdpChecksumOnAMemoryLinkOnly) {
  Frame f;
  FlowAddress flow{kPeerMac, kMyMac, kPeerIp, kMyIp, 40000, 888};
  MachnetHeader h;
  h.flags = kFlagData | kFlagFirst | kFlagLast;
  h.msg_len = 64;
  write_machnet_headers(f.bytes, flow, h, 64, TxChecksum::kNone);
  f.len = kFrameOverhead + 64;
  uint16_t field;
  std::memcpy(&field, f.bytes + kEthernetHeaderSize + kIpv4HeaderSize + 6, 2);
  EXPECT_EQ(field, 0);
  EXPECT_EQ(rte_raw_cksum(f.bytes + kEthernetHeaderSize, kIpv4HeaderSize), 0xffff) << "the IPv4 checksum is computed";
  RxOffloads memory_link;
  memory_link.l4_checksum_good = true;
  EXPECT_EQ(parse_frame(f.bytes, f.len, kMe, memory_link).kind, FrameKind::kMachnet);
  const auto elsewhere = parse_frame(f.bytes, f.len, kMe);
  ASSERT_EQ(elsewhere.kind, FrameKind::kDrop);
  EXPECT_EQ(elsewhere.drop, DropReason::kBadUdpChecksum);
}

TEST(PacketParser, MachnetFrameRoundTrips) {
  const Frame f = machnet_frame(100);
  const auto p = parse_frame(f.bytes, f.len, kMe);
  ASSERT_EQ(p.kind, FrameKind::kMachnet) << to_string(p.drop);
  EXPECT_EQ(p.machnet.src_ip, kPeerIp);
  EXPECT_EQ(p.machnet.dst_ip, kMyIp);
  EXPECT_EQ(p.machnet.src_mac, kPeerMac);
  EXPECT_EQ(p.machnet.src_port, 40000);
  EXPECT_EQ(p.machnet.dst_port, 888);
  EXPECT_EQ(p.machnet.payload_offset, kFrameOverhead);
  EXPECT_EQ(p.machnet.payload_len, 100u);
  const auto& h = p.machnet.header;
  EXPECT_EQ(h.conn_id, 0xabcdef01u);
  EXPECT_EQ(h.seq, 7u);
  EXPECT_EQ(h.ack, 3u);
  EXPECT_EQ(h.sack[0], 0x8000000000000001ull);
  EXPECT_EQ(h.sack[1], 0x5ull);
  EXPECT_EQ(h.tsval, 123456u);
  EXPECT_EQ(h.tsecr, 654321u);
  EXPECT_EQ(h.window, 64);
  EXPECT_EQ(h.msg_len, 100u);
}

TEST(PacketParser, HeaderBytesAreBigEndianAtDocumentedOffsets) {
  const Frame f = machnet_frame(1);
  const uint8_t* mh = f.bytes + kEthernetHeaderSize + kIpv4HeaderSize + kUdpHeaderSize;
  EXPECT_EQ(mh[0], 'M');
  EXPECT_EQ(mh[1], 'N');
  EXPECT_EQ(mh[2], kWireVersion);
  EXPECT_EQ(mh[wire_offset::kConnId], 0xab);
  EXPECT_EQ(mh[wire_offset::kSeq + 3], 7);
  EXPECT_EQ(mh[wire_offset::kSack], 0x80);
  EXPECT_EQ(mh[wire_offset::kWindow + 1], 64);
}

TEST(PacketParser, PaddingAfterTheIpPacketIsAllowed) {
  Frame f = machnet_frame(1);
  f.len += 10;  // a NIC may hand up a frame padded to 60 bytes or more
  const auto p = parse_frame(f.bytes, f.len, kMe);
  ASSERT_EQ(p.kind, FrameKind::kMachnet);
  EXPECT_EQ(p.machnet.payload_len, 1u);
}

TEST(PacketParser, EveryTruncationIsDropped) {
  const Frame f = machnet_frame(64);
  for (uint32_t len = 0; len < f.len; ++len) {
    // A fresh copy of exactly `len` bytes, so ASan catches any read beyond.
    std::vector<uint8_t> cut(f.bytes, f.bytes + len);
    const auto p = parse_frame(cut.data(), len, kMe);
    EXPECT_EQ(p.kind, FrameKind::kDrop) << "length " << len;
  }
}

TEST(PacketParser, CorruptionOfAnyByteIsCaught) {
  const Frame f = machnet_frame(200);
  // Any single flipped bit anywhere past the Ethernet header is caught by a check or a
  // checksum (bits of the MAC addresses may make the frame "not for us" instead).
  for (uint32_t byte = kEthernetHeaderSize; byte < f.len; ++byte) {
    Frame g = f;
    g.bytes[byte] ^= 0x10;
    const auto p = parse_frame(g.bytes, g.len, kMe);
    EXPECT_EQ(p.kind, FrameKind::kDrop) << "byte " << byte;
  }
}

TEST(PacketParser, DropReasons) {
  auto reason = [](Frame g) { return parse_frame(g.bytes, g.len, kMe).drop; };
  Frame f = machnet_frame(10);
  uint8_t* ip = f.bytes + kEthernetHeaderSize;
  uint8_t* udp = ip + kIpv4HeaderSize;
  uint8_t* mh = udp + kUdpHeaderSize;

  Frame g = f;
  g.bytes[0] ^= 1;  // another unicast MAC
  EXPECT_EQ(reason(g), DropReason::kNotForUs);
  g = f;
  g.bytes[12] = 0x86, g.bytes[13] = 0xdd;  // IPv6
  EXPECT_EQ(reason(g), DropReason::kUnsupportedEtherType);
  g = f;
  g.bytes[kEthernetHeaderSize] = 0x65;  // IPv6 version nibble
  EXPECT_EQ(reason(g), DropReason::kBadIpHeader);
  g = f;
  g.bytes[kEthernetHeaderSize + 10] ^= 0xff;  // IP checksum
  EXPECT_EQ(reason(g), DropReason::kBadIpChecksum);

  // Rebuild the IP checksum after a deliberate change, to reach the next check.
  auto fix_ip = [](Frame& x) {
    uint8_t* h = x.bytes + kEthernetHeaderSize;
    h[10] = h[11] = 0;
    uint32_t sum = 0;
    for (int i = 0; i < 20; i += 2) sum += (h[i] << 8) | h[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    h[10] = static_cast<uint8_t>(~sum >> 8);
    h[11] = static_cast<uint8_t>(~sum);
  };
  g = f;
  g.bytes[kEthernetHeaderSize + 6] = 0x20;  // More Fragments
  fix_ip(g);
  EXPECT_EQ(reason(g), DropReason::kIpFragment);
  g = f;
  g.bytes[kEthernetHeaderSize + 19] = 9;  // another destination IP
  fix_ip(g);
  EXPECT_EQ(reason(g), DropReason::kNotForUs);
  g = f;
  g.bytes[kEthernetHeaderSize + 9] = 6;  // TCP
  fix_ip(g);
  EXPECT_EQ(reason(g), DropReason::kUnsupportedIpProtocol);

  g = f;
  g.bytes[kEthernetHeaderSize + kIpv4HeaderSize + 6] = 0;  // no UDP checksum
  g.bytes[kEthernetHeaderSize + kIpv4HeaderSize + 7] = 0;
  EXPECT_EQ(reason(g), DropReason::kBadUdpChecksum);
  g = f;
  g.bytes[kFrameOverhead + 3] ^= 0x40;  // payload corrupted
  EXPECT_EQ(reason(g), DropReason::kBadUdpChecksum);
  g = f;
  g.bytes[kEthernetHeaderSize + kIpv4HeaderSize + 5] += 1;  // UDP length off by one
  EXPECT_EQ(reason(g), DropReason::kBadUdpLength);

  // Header checks behind a valid checksum.
  auto with_header = [&](auto mutate) {
    Frame x = f;
    mutate(x.bytes + kEthernetHeaderSize + kIpv4HeaderSize + kUdpHeaderSize);
    finish_udp_checksum(x.bytes);
    return reason(x);
  };
  EXPECT_EQ(with_header([](uint8_t* m) { m[0] = 'X'; }), DropReason::kBadMagic);
  EXPECT_EQ(with_header([](uint8_t* m) { m[2] = 2; }), DropReason::kBadVersion);
  EXPECT_EQ(with_header([](uint8_t* m) { m[3] = kFlagAck; }), DropReason::kBadMachnetHeader);  // payload without kData
  EXPECT_EQ(with_header([](uint8_t* m) { m[3] = kFlagData | kFlagSyn; }), DropReason::kBadMachnetHeader);
  EXPECT_EQ(with_header([](uint8_t* m) { m[3] = kFlagData; }), DropReason::kBadMachnetHeader);  // msg_len without kFirst
  (void)ip, (void)udp, (void)mh;
}

TEST(PacketParser, ControlPacketWithoutPayload) {
  const Frame f = machnet_frame(0, kFlagSyn);
  Frame g = f;
  const auto p = parse_frame(g.bytes, g.len, kMe);
  ASSERT_EQ(p.kind, FrameKind::kMachnet) << to_string(p.drop);
  EXPECT_EQ(p.machnet.payload_len, 0u);
  EXPECT_EQ(p.machnet.header.flags, kFlagSyn);
}

// An empty message is one DATA|FIRST|LAST packet with msg_len 0 and no payload
// (docs/wire-protocol.md); any other data packet without payload is malformed.
TEST(PacketParser, EmptyMessageIsDataWithoutPayload) {
  Frame f = machnet_frame(0, kFlagData | kFlagFirst | kFlagLast | kFlagAck);
  const auto p = parse_frame(f.bytes, f.len, kMe);
  ASSERT_EQ(p.kind, FrameKind::kMachnet) << to_string(p.drop);
  EXPECT_EQ(p.machnet.payload_len, 0u);
  EXPECT_EQ(p.machnet.header.msg_len, 0u);

  for (uint8_t flags : {uint8_t(kFlagData), uint8_t(kFlagData | kFlagFirst), uint8_t(kFlagData | kFlagLast)}) {
    Frame g = machnet_frame(0, flags);
    EXPECT_EQ(parse_frame(g.bytes, g.len, kMe).drop, DropReason::kBadMachnetHeader) << int(flags);
  }
  // FIRST|LAST without payload but claiming bytes: a message that cannot be complete.
  Frame h = machnet_frame(0, kFlagData | kFlagFirst | kFlagLast);
  uint8_t* mh = h.bytes + kEthernetHeaderSize + kIpv4HeaderSize + kUdpHeaderSize;
  mh[47] = 5;  // msg_len (big-endian, offset 44)
  finish_udp_checksum(h.bytes);
  EXPECT_EQ(parse_frame(h.bytes, h.len, kMe).drop, DropReason::kBadMachnetHeader);
}

TEST(Arp, RequestForUsIsRecognised) {
  Frame f;
  f.len = build_arp_request(f.bytes, kPeerMac, kPeerIp, kMyIp);
  EXPECT_EQ(f.len, 60u);
  const auto p = parse_frame(f.bytes, f.len, kMe);
  ASSERT_EQ(p.kind, FrameKind::kArp) << to_string(p.drop);
  EXPECT_EQ(p.arp.opcode, 1);
  EXPECT_EQ(p.arp.sender_mac, kPeerMac);
  EXPECT_EQ(p.arp.sender_ip, kPeerIp);
  EXPECT_EQ(p.arp.target_ip, kMyIp);
}

TEST(Arp, RequestForAnotherHostIsNotOurs) {
  Frame f;
  f.len = build_arp_request(f.bytes, kPeerMac, kPeerIp, *Ipv4Address::parse("10.0.0.77"));
  EXPECT_EQ(parse_frame(f.bytes, f.len, kMe).drop, DropReason::kNotForUs);
}

TEST(Arp, ReplyAndGratuitousTeachTheSender) {
  Frame f;
  f.len = build_arp_reply(f.bytes, kPeerMac, kPeerIp, kMyMac, kMyIp);
  auto p = parse_frame(f.bytes, f.len, kMe);
  ASSERT_EQ(p.kind, FrameKind::kArp);
  EXPECT_EQ(p.arp.opcode, 2);
  EXPECT_EQ(p.arp.sender_mac, kPeerMac);
  f.len = build_gratuitous_arp(f.bytes, kPeerMac, kPeerIp);
  p = parse_frame(f.bytes, f.len, kMe);
  EXPECT_EQ(p.kind, FrameKind::kDrop);  // a gratuitous request is for the sender's own IP
  EXPECT_EQ(p.drop, DropReason::kNotForUs);
}

TEST(Arp, MalformedIsDropped) {
  Frame f;
  f.len = build_arp_request(f.bytes, kPeerMac, kPeerIp, kMyIp);
  Frame g = f;
  g.bytes[kEthernetHeaderSize + 7] = 9;  // opcode 9
  EXPECT_EQ(parse_frame(g.bytes, g.len, kMe).drop, DropReason::kBadArp);
  g = f;
  g.bytes[kEthernetHeaderSize + 4] = 16;  // hardware address length 16
  EXPECT_EQ(parse_frame(g.bytes, g.len, kMe).drop, DropReason::kBadArp);
  EXPECT_EQ(parse_frame(f.bytes, 41, kMe).drop, DropReason::kTooShort);
}

// A kernel-style echo request: 20-byte IP header, 8-byte ICMP header, 56 bytes of data.
Frame echo_request() {
  Frame f;
  uint8_t* p = f.bytes;
  std::memcpy(p, kMyMac.bytes.data(), 6);
  std::memcpy(p + 6, kPeerMac.bytes.data(), 6);
  p[12] = 0x08, p[13] = 0x00;
  uint8_t* ip = p + 14;
  const uint16_t total = 20 + 8 + 56;
  const uint8_t iph[20] = {0x45, 0, uint8_t(total >> 8), uint8_t(total), 0x12, 0x34, 0x40, 0, 64, 1, 0, 0,
                           10, 0, 0, 2, 10, 0, 0, 1};
  std::memcpy(ip, iph, 20);
  auto fold = [](const uint8_t* d, size_t n) {
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < n; i += 2) sum += (d[i] << 8) | d[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<uint16_t>(~sum);
  };
  uint16_t c = fold(ip, 20);
  ip[10] = uint8_t(c >> 8), ip[11] = uint8_t(c);
  uint8_t* icmp = ip + 20;
  icmp[0] = 8, icmp[1] = 0, icmp[4] = 0x11, icmp[5] = 0x22, icmp[6] = 0, icmp[7] = 1;
  for (int i = 0; i < 56; ++i) icmp[8 + i] = static_cast<uint8_t>(i);
  c = fold(icmp, 64);
  icmp[2] = uint8_t(c >> 8), icmp[3] = uint8_t(c);
  f.len = 14 + total;
  return f;
}

TEST(Icmp, EchoRequestGetsAValidReply) {
  Frame f = echo_request();
  const auto p = parse_frame(f.bytes, f.len, kMe);
  ASSERT_EQ(p.kind, FrameKind::kIcmpEcho) << to_string(p.drop);
  f.bytes[0] = f.bytes[1] = f.bytes[2] = f.bytes[3] = f.bytes[4] = f.bytes[5] = 0xff;  // to the broadcast MAC
  make_icmp_echo_reply(f.bytes, p.l3_offset, kMe.mac);
  EXPECT_EQ(0, std::memcmp(f.bytes + 6, kMe.mac.bytes.data(), 6)) << "the source is our MAC, not the broadcast";
  EXPECT_EQ(0, std::memcmp(f.bytes, kPeerMac.bytes.data(), 6)) << "sent back to the asker";
  // The reply, seen from the peer, is a valid frame addressed to it: check by parsing it
  // as the peer would (ICMP type 0 is "unsupported" for us, but addresses and checksums
  // must be right to get that far).
  const Interface peer{kPeerMac, kPeerIp};
  const auto r = parse_frame(f.bytes, f.len, peer);
  EXPECT_EQ(r.drop, DropReason::kUnsupportedIcmp);
  EXPECT_EQ(f.bytes[14 + 20], 0);  // echo reply
  EXPECT_EQ(f.bytes[14 + 20 + 4], 0x11);  // identifier kept
  // The ICMP checksum verifies.
  uint32_t sum = 0;
  for (int i = 0; i < 64; i += 2) sum += (f.bytes[34 + i] << 8) | f.bytes[35 + i];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  EXPECT_EQ(sum, 0xffffu);
}

TEST(Icmp, BadChecksumAndOtherTypesDropped) {
  Frame f = echo_request();
  f.bytes[14 + 20 + 10] ^= 1;
  EXPECT_EQ(parse_frame(f.bytes, f.len, kMe).drop, DropReason::kBadIcmpChecksum);
  f = echo_request();
  f.bytes[14 + 20] = 13;  // timestamp request
  EXPECT_EQ(parse_frame(f.bytes, f.len, kMe).drop, DropReason::kUnsupportedIcmp);
}

TEST(PacketParser, RandomBytesNeverCrash) {
  std::mt19937 rng(42);
  Frame f;
  for (int round = 0; round < 20000; ++round) {
    const uint32_t len = rng() % 200;
    for (uint32_t i = 0; i < len; ++i) f.bytes[i] = static_cast<uint8_t>(rng());
    if (round % 2) std::memcpy(f.bytes, kMyMac.bytes.data(), 6);  // get past the MAC check
    if (round % 4 == 1) f.bytes[12] = 0x08, f.bytes[13] = 0x00;
    (void)parse_frame(f.bytes, len, kMe);
  }
}

}  // namespace
}  // namespace machnet::net
