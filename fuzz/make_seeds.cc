// Writes the seed corpus of fuzz_packet_parser: one valid frame of each kind the parser
// accepts, addressed to the fuzz target's fixed interface (fuzz_interface.h), built with the
// daemon's own packet builders. The output is committed in fuzz/corpus/packet_parser; run
// this again after a wire format change:
//   build-fuzz/fuzz/make_packet_parser_seeds fuzz/corpus/packet_parser
#include <arpa/inet.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "net/packet_builder.h"
#include "net/packet_parser.h"

#include "fuzz_interface.h"

namespace {

using namespace machnet;
using namespace machnet::net;

struct alignas(8) Frame {
  uint8_t bytes[256] = {};
  uint32_t len = 0;
};

uint16_t checksum(const uint8_t* p, uint32_t len) {
  uint32_t sum = 0;
  for (uint32_t i = 0; i + 1 < len; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The peer pings us: Ethernet, a 20-byte IPv4 header, an ICMP echo request with 8 bytes of data.
Frame icmp_echo_request() {
  Frame f;
  uint8_t* b = f.bytes;
  std::memcpy(b, fuzz::kInterface.mac.bytes.data(), 6);
  std::memcpy(b + 6, fuzz::kPeerMac.bytes.data(), 6);
  put16(b + 12, 0x0800);
  uint8_t* ip = b + kEthernetHeaderSize;
  const uint16_t ip_len = 20 + 8 + 8;
  ip[0] = 0x45;
  put16(ip + 2, ip_len);
  put16(ip + 4, 1);       // id
  put16(ip + 6, 0x4000);  // DF
  ip[8] = 64;
  ip[9] = 1;  // ICMP
  const uint32_t src = htonl(fuzz::kPeerIp.value), dst = htonl(fuzz::kInterface.ip.value);
  std::memcpy(ip + 12, &src, 4);
  std::memcpy(ip + 16, &dst, 4);
  put16(ip + 10, checksum(ip, 20));
  uint8_t* icmp = ip + 20;
  icmp[0] = 8;  // echo request
  put16(icmp + 4, 0x1234);  // identifier
  put16(icmp + 6, 1);       // sequence
  std::memcpy(icmp + 8, "machnet!", 8);
  put16(icmp + 2, checksum(icmp, 16));
  f.len = kEthernetHeaderSize + ip_len;
  return f;
}

Frame machnet_packet(uint8_t flags, uint32_t payload_len) {
  Frame f;
  const FlowAddress flow{fuzz::kPeerMac, fuzz::kInterface.mac, fuzz::kPeerIp, fuzz::kInterface.ip, 49152, 888};
  MachnetHeader h;
  h.flags = flags;
  h.conn_id = 0x01020304;
  h.seq = 1;
  h.ack = 1;
  h.sack[0] = 0x5;
  h.tsval = 1000;
  h.tsecr = 900;
  h.window = 32;
  h.msg_len = (flags & kFlagFirst) ? payload_len : 0;
  write_machnet_headers(f.bytes, flow, h, payload_len, TxChecksum::kSoftware);
  for (uint32_t i = 0; i < payload_len; ++i) f.bytes[kFrameOverhead + i] = static_cast<uint8_t>('a' + i % 26);
  finish_udp_checksum(f.bytes);
  f.len = static_cast<uint32_t>(kFrameOverhead + payload_len);
  return f;
}

bool write(const std::string& dir, const char* name, const Frame& f, FrameKind expected) {
  // A seed the parser rejects would teach the fuzzer nothing: check before writing.
  const ParsedFrame p = parse_frame(f.bytes, f.len, fuzz::kInterface);
  if (p.kind != expected) {
    std::fprintf(stderr, "make_seeds: %s does not parse as expected (drop: %s)\n", name,
                 std::string(to_string(p.drop)).c_str());
    return false;
  }
  const std::string path = dir + "/" + name;
  FILE* out = std::fopen(path.c_str(), "wb");
  if (!out || std::fwrite(f.bytes, 1, f.len, out) != f.len || std::fclose(out) != 0) {
    std::perror(path.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  Frame arp_request;
  arp_request.len = build_arp_request(arp_request.bytes, fuzz::kPeerMac, fuzz::kPeerIp, fuzz::kInterface.ip);
  Frame arp_reply;
  arp_reply.len = build_arp_reply(arp_reply.bytes, fuzz::kPeerMac, fuzz::kPeerIp, fuzz::kInterface.mac,
                                  fuzz::kInterface.ip);
  bool ok = write(dir, "arp_request", arp_request, FrameKind::kArp);
  ok = write(dir, "arp_reply", arp_reply, FrameKind::kArp) && ok;
  ok = write(dir, "icmp_echo_request", icmp_echo_request(), FrameKind::kIcmpEcho) && ok;
  ok = write(dir, "machnet_data", machnet_packet(kFlagData | kFlagFirst | kFlagLast | kFlagAck, 16),
             FrameKind::kMachnet) && ok;
  ok = write(dir, "machnet_syn", machnet_packet(kFlagSyn, 0), FrameKind::kMachnet) && ok;
  return ok ? 0 : 1;
}
