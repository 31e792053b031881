#include "net/wire_format.h"

#include <cstring>

namespace machnet::net {
namespace {

// Big-endian loads and stores on possibly unaligned bytes.
template <typename T>
T load_be(const uint8_t* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>((v << 8) | p[i]);
  return v;
}
template <typename T>
void store_be(uint8_t* p, T v) {
  for (size_t i = sizeof(T); i-- > 0;) {
    p[i] = static_cast<uint8_t>(v & 0xff);
    v = static_cast<T>(v >> 8);
  }
}

}  // namespace

MachnetHeader decode_machnet_header(const uint8_t* p) {
  using namespace wire_offset;
  MachnetHeader h;
  h.flags = p[kFlags];
  h.conn_id = load_be<uint32_t>(p + kConnId);
  h.seq = load_be<uint32_t>(p + kSeq);
  h.ack = load_be<uint32_t>(p + kAck);
  h.sack[0] = load_be<uint64_t>(p + kSack);
  h.sack[1] = load_be<uint64_t>(p + kSack + 8);
  h.tsval = load_be<uint32_t>(p + kTsval);
  h.tsecr = load_be<uint32_t>(p + kTsecr);
  h.window = load_be<uint16_t>(p + kWindow);
  h.msg_len = load_be<uint32_t>(p + kMsgLen);
  return h;
}

void encode_machnet_header(const MachnetHeader& h, uint8_t* p) {
  using namespace wire_offset;
  store_be<uint16_t>(p + kMagic, kWireMagic);
  p[kVersion] = kWireVersion;
  p[kFlags] = h.flags;
  store_be<uint32_t>(p + kConnId, h.conn_id);
  store_be<uint32_t>(p + kSeq, h.seq);
  store_be<uint32_t>(p + kAck, h.ack);
  store_be<uint64_t>(p + kSack, h.sack[0]);
  store_be<uint64_t>(p + kSack + 8, h.sack[1]);
  store_be<uint32_t>(p + kTsval, h.tsval);
  store_be<uint32_t>(p + kTsecr, h.tsecr);
  store_be<uint16_t>(p + kWindow, h.window);
  store_be<uint16_t>(p + kReserved, 0);
  store_be<uint32_t>(p + kMsgLen, h.msg_len);
}

}  // namespace machnet::net
