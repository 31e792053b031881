// libFuzzer target for the receive path: arbitrary bytes as a received Ethernet frame.
// parse_frame must classify every input without reading past its end (ASan), without
// undefined behaviour (UBSan), and what it reports must hold up: offsets and lengths inside
// the frame, the Machnet header it decoded equal to the bytes at that offset, an ICMP echo it
// accepted turned into a reply with valid checksums.
//
// Build and run: docs/testing-fuzz.md. Seeds: fuzz/corpus/packet_parser (make_seeds.cc).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include "net/packet_builder.h"
#include "net/packet_parser.h"
#include "net/wire_format.h"

#include "fuzz_interface.h"

namespace {

using namespace machnet::net;

// A failed invariant: abort so that libFuzzer saves the input as a crash.
#define FUZZ_CHECK(cond)    \
  do {                      \
    if (!(cond)) __builtin_trap(); \
  } while (0)

bool same_header(const MachnetHeader& a, const MachnetHeader& b) {
  return a.flags == b.flags && a.conn_id == b.conn_id && a.seq == b.seq && a.ack == b.ack &&
         a.sack[0] == b.sack[0] && a.sack[1] == b.sack[1] && a.tsval == b.tsval && a.tsecr == b.tsecr &&
         a.window == b.window && a.msg_len == b.msg_len;
}

// One's-complement sum of `len` bytes, folded (what a receiver verifies).
uint16_t ones_sum(const uint8_t* p, uint32_t len) {
  uint32_t sum = 0;
  for (uint32_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

void check(const uint8_t* frame, uint32_t len, RxOffloads offloads) {
  const ParsedFrame p = parse_frame(frame, len, machnet::fuzz::kInterface, offloads);
  switch (p.kind) {
    case FrameKind::kDrop:
      FUZZ_CHECK(p.drop < DropReason::kCount);
      break;
    case FrameKind::kArp:
      FUZZ_CHECK(len >= kEthernetHeaderSize + 28);
      FUZZ_CHECK(p.arp.opcode == 1 || p.arp.opcode == 2);
      FUZZ_CHECK(p.arp.opcode == 2 || p.arp.target_ip == machnet::fuzz::kInterface.ip);
      break;
    case FrameKind::kIcmpEcho: {
      FUZZ_CHECK(p.l3_offset == kEthernetHeaderSize);
      const uint32_t ihl = static_cast<uint32_t>(frame[p.l3_offset] & 0x0f) * 4;
      const uint32_t ip_len = static_cast<uint32_t>(frame[p.l3_offset + 2] << 8 | frame[p.l3_offset + 3]);
      FUZZ_CHECK(ihl >= kIpv4HeaderSize && ip_len >= ihl + 8 && p.l3_offset + ip_len <= len);
      // The engine answers in place: do it on a copy of exactly the frame's size.
      auto reply = std::make_unique<uint8_t[]>(len);
      std::memcpy(reply.get(), frame, len);
      make_icmp_echo_reply(reply.get(), p.l3_offset, machnet::fuzz::kInterface.mac);
      const uint8_t* ip = reply.get() + p.l3_offset;
      FUZZ_CHECK(ones_sum(ip, ihl) == 0xffff);
      FUZZ_CHECK(ones_sum(ip + ihl, ip_len - ihl) == 0xffff);
      FUZZ_CHECK(ip[ihl] == 0);  // echo reply
      break;
    }
    case FrameKind::kMachnet: {
      const MachnetPacketInfo& m = p.machnet;
      FUZZ_CHECK(p.l3_offset == kEthernetHeaderSize);
      FUZZ_CHECK(m.payload_offset >= kFrameOverhead);
      FUZZ_CHECK(m.payload_offset <= len && m.payload_len <= len - m.payload_offset);
      FUZZ_CHECK(m.dst_ip == machnet::fuzz::kInterface.ip);
      // Only data carries a payload, and data has one unless it is a whole empty message.
      const bool empty_message = (m.header.flags & (kFlagFirst | kFlagLast)) == (kFlagFirst | kFlagLast) &&
                                 m.header.msg_len == 0;
      FUZZ_CHECK(m.payload_len == 0 || (m.header.flags & kFlagData) != 0);
      FUZZ_CHECK((m.header.flags & kFlagData) == 0 || m.payload_len > 0 || empty_message);
      // The header the parser decoded is the one at its offset, and survives a round trip.
      const uint8_t* mh = frame + m.payload_offset - kMachnetHeaderSize;
      const MachnetHeader again = decode_machnet_header(mh);
      FUZZ_CHECK(same_header(again, m.header));
      uint8_t encoded[kMachnetHeaderSize];
      encode_machnet_header(again, encoded);
      FUZZ_CHECK(same_header(decode_machnet_header(encoded), again));
      // Every byte but the reserved field (not checked on receive) matches the frame.
      FUZZ_CHECK(std::memcmp(encoded, mh, wire_offset::kReserved) == 0);
      FUZZ_CHECK(std::memcmp(encoded + wire_offset::kMsgLen, mh + wire_offset::kMsgLen, 4) == 0);
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65535) return 0;  // larger than any frame a port delivers
  // A heap copy of exactly `size` bytes: 2-byte aligned like mbuf data, and ASan flags the
  // first byte read past the end.
  auto frame = std::make_unique<uint8_t[]>(size == 0 ? 1 : size);
  if (size) std::memcpy(frame.get(), data, size);
  const auto len = static_cast<uint32_t>(size);
  // Every combination of the NIC's receive checksum flags: with both good, the fuzzer
  // reaches past the checksums without having to solve them.
  for (const bool ip_good : {false, true})
    for (const bool l4_good : {false, true}) check(frame.get(), len, RxOffloads{ip_good, l4_good});
  return 0;
}
