// The Machnet header: what follows the UDP header in every packet two daemons exchange.
// docs/wire-protocol.md documents it byte by byte; change both together, and bump
// kWireVersion for any change a peer of the previous version would misread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace machnet::net {

inline constexpr uint16_t kWireMagic = 0x4d4e;  // "MN"
inline constexpr uint8_t kWireVersion = 1;

// Header flags (one byte). Control flags may combine with kAck; kData packets carry
// kFirst on the first segment of a message and kLast on its last (a one-segment message
// carries both).
enum WireFlag : uint8_t {
  kFlagSyn = 1 << 0,     // open a flow: sender's initial seq in `seq`, `conn_id` chosen here
  kFlagSynAck = 1 << 1,  // accept a flow
  kFlagAck = 1 << 2,     // `ack`, `sack` and `window` are valid
  kFlagRst = 1 << 3,     // no such flow / flow aborted
  kFlagData = 1 << 4,    // carries message bytes
  kFlagFirst = 1 << 5,   // first segment of a message: `msg_len` is the message's length
  kFlagLast = 1 << 6,    // last segment of a message
  kFlagFin = 1 << 7,     // orderly close of the flow
};

// Number of packets after `ack` whose reception the SACK bitmap can report.
inline constexpr uint32_t kSackBits = 128;

// Decoded header, host byte order. On the wire every multi-byte field is big-endian.
struct MachnetHeader {
  uint8_t flags = 0;
  uint32_t conn_id = 0;   // chosen by the connecting side; both directions carry it
  uint32_t seq = 0;       // sequence number of this packet in its direction
  uint32_t ack = 0;       // next sequence number the sender of this packet expects
  uint64_t sack[2] = {};  // bit i (word i / 64, bit i % 64): packet ack + 1 + i received
  uint32_t tsval = 0;     // sender's clock in microseconds (low 32 bits)
  uint32_t tsecr = 0;     // the tsval most recently received from the peer, echoed
  uint16_t window = 0;    // packets the sender of this packet can still accept after ack
  uint32_t msg_len = 0;   // with kFlagFirst: the whole message's length in bytes
};

// Offsets of the header fields on the wire.
namespace wire_offset {
inline constexpr size_t kMagic = 0;     // u16
inline constexpr size_t kVersion = 2;   // u8
inline constexpr size_t kFlags = 3;     // u8
inline constexpr size_t kConnId = 4;    // u32
inline constexpr size_t kSeq = 8;       // u32
inline constexpr size_t kAck = 12;      // u32
inline constexpr size_t kSack = 16;     // u64 x 2
inline constexpr size_t kTsval = 32;    // u32
inline constexpr size_t kTsecr = 36;    // u32
inline constexpr size_t kWindow = 40;   // u16
inline constexpr size_t kReserved = 42; // u16, zero
inline constexpr size_t kMsgLen = 44;   // u32
}  // namespace wire_offset

inline constexpr size_t kMachnetHeaderSize = 48;
inline constexpr size_t kEthernetHeaderSize = 14;
inline constexpr size_t kIpv4HeaderSize = 20;  // we send no IP options
inline constexpr size_t kUdpHeaderSize = 8;
// Everything in front of the payload of a Machnet packet.
inline constexpr size_t kFrameOverhead = kEthernetHeaderSize + kIpv4HeaderSize + kUdpHeaderSize + kMachnetHeaderSize;

// Payload bytes per packet for an IP MTU.
constexpr size_t payload_per_packet(size_t mtu) {
  return mtu - kIpv4HeaderSize - kUdpHeaderSize - kMachnetHeaderSize;
}
static_assert(payload_per_packet(1500) == 1424);

// Reads and writes the header at `p` (kMachnetHeaderSize bytes).
MachnetHeader decode_machnet_header(const uint8_t* p);
void encode_machnet_header(const MachnetHeader& h, uint8_t* p);

}  // namespace machnet::net
