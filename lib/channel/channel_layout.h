// The shared-memory channel ABI between libmachnet and machnetd: the byte layout of one
// channel's memfd. Written down with byte offsets in docs/channel-abi.md; any change to a
// struct here bumps kAbiVersion. Both sides include this header; nothing here depends on
// DPDK or Boost.
//
// The daemon creates and initialises the memory and keeps its own copy of the geometry
// (ChannelGeometry); it never re-reads the header after creation, because the application
// can write every byte of it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace machnet::channel {

inline constexpr uint64_t kChannelMagic = 0x3154454e4843414dULL;  // "MACHNET1", little endian
inline constexpr uint32_t kAbiVersion = 1;
inline constexpr uint32_t kCacheLine = 64;
inline constexpr uint32_t kNoBuffer = 0xffffffffu;  // `next` of the last buffer of a chain

// Why the daemon dropped something a channel's application wrote. Indices into
// ChannelStats::drops; names in drop_reason_name(). Append only.
enum DropReason : uint32_t {
  kDropBadRingIndex = 0,  // a ring's producer/consumer index is impossible (> slots apart)
  kDropBadBufferIndex,    // a chain names a buffer outside the app pool or not the app's
  kDropBadChain,          // chain longer than the maximum, or lengths that do not add up
  kDropBadLength,         // a buffer length > buffer_size, or a message > max_message_bytes
  kDropUnknownFlow,       // the flow is not one this channel owns (never connected/accepted)
  kDropBadFreeIndex,      // a buffer returned to the daemon that the app did not hold
  kDropPeerGone,          // the flow's other end closed or died
  kDropReceiverFull,      // the receiver stayed full longer than the hold limit
  kDropReasonCount,
};
inline constexpr uint32_t kDropSlots = 8;  // room in ChannelStats for future reasons
static_assert(kDropReasonCount <= kDropSlots);

inline const char* drop_reason_name(uint32_t r) {
  switch (r) {
    case kDropBadRingIndex: return "bad_ring_index";
    case kDropBadBufferIndex: return "bad_buffer_index";
    case kDropBadChain: return "bad_chain";
    case kDropBadLength: return "bad_length";
    case kDropUnknownFlow: return "unknown_flow";
    case kDropBadFreeIndex: return "bad_free_index";
    case kDropPeerGone: return "peer_gone";
    case kDropReceiverFull: return "receiver_full";
    default: return "unknown";
  }
}

// Counters the daemon mirrors into the channel so the application can read them
// (machnet_get_channel_stats). "in" is what the application sent into the daemon, "out"
// what the daemon delivered out to the application. The daemon keeps the authoritative
// copy in its own memory; these are a courtesy copy an application may overwrite.
struct ChannelStats {
  uint64_t msgs_in;
  uint64_t bytes_in;
  uint64_t msgs_out;
  uint64_t bytes_out;
  uint64_t drops[kDropSlots];
};
static_assert(sizeof(ChannelStats) == 96);

// Where a ring lives: `offset` from the start of the channel to its RingHeader; `slots` is a
// power of two.
struct RingRef {
  uint64_t offset;
  uint32_t slots;
  uint32_t reserved;
};
static_assert(sizeof(RingRef) == 16);

// A ring's indices, each alone on a cache line so producer and consumer do not share one.
// Indices are free-running uint32 counters; slot = index & (slots - 1). The slot array
// (uint32 buffer indices) follows at offset kRingSlotsOffset.
struct RingHeader {
  alignas(kCacheLine) uint32_t producer;
  alignas(kCacheLine) uint32_t consumer;
};
static_assert(sizeof(RingHeader) == 2 * kCacheLine);
inline constexpr uint64_t kRingSlotsOffset = sizeof(RingHeader);

// Offset 0 of the channel.
struct ChannelHeader {
  uint64_t magic;              // 0   kChannelMagic
  uint32_t abi_version;        // 8   kAbiVersion
  uint32_t header_size;        // 12  sizeof(ChannelHeader)
  uint64_t total_size;         // 16  bytes of the memfd
  uint32_t channel_id;         // 24  the daemon's id for this channel
  uint32_t buffer_size;        // 28  payload bytes per buffer
  uint32_t buffer_count;       // 32  app pool + daemon pool
  uint32_t app_pool_first;     // 36  buffers the application fills: [first, first+count)
  uint32_t app_pool_count;     // 40
  uint32_t daemon_pool_first;  // 44  buffers the daemon fills
  uint32_t daemon_pool_count;  // 48
  uint32_t max_message_bytes;  // 52  longest message either side may send
  uint64_t stats_offset;       // 56  ChannelStats
  RingRef ctrl_submit;         // 64  reserved in ABI v1 (control goes over the socket)
  RingRef ctrl_complete;       // 80  reserved in ABI v1
  RingRef to_daemon;           // 96  app -> daemon messages (head buffer indices)
  RingRef to_app;              // 112 daemon -> app messages
  RingRef app_free;            // 128 daemon -> app: app-pool buffers the app may fill
  RingRef daemon_free;         // 144 app -> daemon: daemon-pool buffers handed back
  uint64_t desc_offset;        // 160 BufferDesc[buffer_count]
  uint64_t data_offset;        // 168 buffer_count * buffer_size bytes of payload
  uint8_t reserved0[kCacheLine * 3 - 176];
  // Doorbell (cache line 3; the socketpair of doorbell_socket.h): the application sets
  // app_waiting to 1 before it sleeps on its end; the daemon, after delivering, swaps it to 0
  // and rings.
  alignas(kCacheLine) uint32_t app_waiting;  // 192
  // The reverse direction: the engine sets engine_sleeping to 1 before it sleeps; an
  // application that queued a message and sees it swaps it to 0 and rings the same
  // socketpair from its end.
  uint32_t engine_sleeping;                  // 196
  // Set to 1 by the daemon when it begins to stop (SIGTERM): from then on machnet_send
  // refuses with ESHUTDOWN instead of queuing a message the daemon would never take.
  // Reserved (0) before, so an older daemon simply never sets it.
  uint32_t daemon_stopping;                  // 200
  uint8_t reserved1[kCacheLine - 12];
};
static_assert(sizeof(ChannelHeader) == 4 * kCacheLine);
static_assert(offsetof(ChannelHeader, stats_offset) == 56);
static_assert(offsetof(ChannelHeader, to_daemon) == 96);
static_assert(offsetof(ChannelHeader, desc_offset) == 160);
static_assert(offsetof(ChannelHeader, app_waiting) == 192);
static_assert(offsetof(ChannelHeader, engine_sleeping) == 196);
static_assert(offsetof(ChannelHeader, daemon_stopping) == 200);

// Metadata of one buffer, in an array apart from the payload so that payload buffers keep
// their full, aligned size. The first buffer of a message carries msg_len, flags and the
// flow; every buffer carries its own len and the index of the next (kNoBuffer ends).
struct BufferDesc {
  uint32_t len;      // 0  payload bytes in this buffer (<= buffer_size)
  uint32_t next;     // 4  next buffer of the message, or kNoBuffer
  uint32_t msg_len;  // 8  total message bytes (first buffer only)
  uint16_t flags;    // 12 MachnetMsgHdr_t.flags (first buffer only)
  uint16_t reserved; // 14
  uint32_t src_ip;   // 16 the flow, as MachnetFlow_t (first buffer only)
  uint32_t dst_ip;   // 20
  uint16_t src_port; // 24
  uint16_t dst_port; // 26
  uint32_t reserved2;// 28
};
static_assert(sizeof(BufferDesc) == 32);

// A zero-length message with this flag is not data: it tells the application that the
// flow it names failed, with `reserved` holding the errno value that says why (ECONNRESET:
// reset by the peer; ETIMEDOUT: the peer stopped answering). A peer's orderly close is not
// reported: it is the normal end of a conversation.
// machnet_recv returns -1 with that errno and fills in the flow.
inline constexpr uint16_t kMsgFlowEnded = 0x8000;

// What the daemon chooses per channel; everything else follows from it.
struct ChannelParams {
  uint32_t ring_slots = 1024;  // message rings; rounded up to a power of two
  uint32_t buffer_size = 4096;
  uint32_t buffers = 4096;     // split evenly between the two pools
  uint32_t max_message_bytes = 8u << 20;
};

struct ChannelGeometry {
  uint64_t total_size = 0;
  uint32_t buffer_size = 0;
  uint32_t buffer_count = 0;
  uint32_t app_pool_first = 0, app_pool_count = 0;
  uint32_t daemon_pool_first = 0, daemon_pool_count = 0;
  uint32_t max_message_bytes = 0;
  uint32_t max_chain = 0;  // buffers in the longest legal message
  uint64_t stats_offset = 0;
  RingRef ctrl_submit{}, ctrl_complete{}, to_daemon{}, to_app{}, app_free{}, daemon_free{};
  uint64_t desc_offset = 0;
  uint64_t data_offset = 0;
};

inline constexpr uint32_t round_up_pow2(uint32_t v) {
  uint32_t p = 1;
  while (p < v && p < (1u << 31)) p <<= 1;
  return p;
}
inline constexpr uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }
inline constexpr uint64_t ring_bytes(uint32_t slots) {
  return align_up(kRingSlotsOffset + uint64_t{slots} * 4, kCacheLine);
}
// Buffers a message of msg_len bytes occupies: a zero-length message still needs one.
inline constexpr uint32_t buffers_for(uint64_t msg_len, uint32_t buffer_size) {
  return msg_len == 0 ? 1 : static_cast<uint32_t>((msg_len + buffer_size - 1) / buffer_size);
}

// Lays out a channel. The free rings hold a whole pool each, so returning a buffer never
// finds them full. max_message_bytes is capped by what one pool can hold. `page` is the
// granule the total is rounded to (2 MiB for hugetlb).
inline ChannelGeometry compute_geometry(const ChannelParams& p, uint64_t page = 4096) {
  ChannelGeometry g;
  g.buffer_size = static_cast<uint32_t>(align_up(p.buffer_size < 64 ? 64 : p.buffer_size, kCacheLine));
  g.buffer_count = (p.buffers < 2 ? 2 : p.buffers) & ~1u;
  g.app_pool_first = 0;
  g.app_pool_count = g.buffer_count / 2;
  g.daemon_pool_first = g.app_pool_count;
  g.daemon_pool_count = g.buffer_count / 2;
  const uint64_t pool_bytes = uint64_t{g.app_pool_count} * g.buffer_size;
  g.max_message_bytes = static_cast<uint32_t>(pool_bytes < p.max_message_bytes ? pool_bytes : p.max_message_bytes);
  g.max_chain = buffers_for(g.max_message_bytes, g.buffer_size);
  const uint32_t msg_slots = round_up_pow2(p.ring_slots < 2 ? 2 : p.ring_slots);
  const uint32_t pool_slots = round_up_pow2(g.app_pool_count);
  uint64_t off = sizeof(ChannelHeader);
  g.stats_offset = off;
  off = align_up(off + sizeof(ChannelStats), kCacheLine);
  auto place = [&off](uint32_t slots) {
    RingRef r{off, slots, 0};
    off += ring_bytes(slots);
    return r;
  };
  g.ctrl_submit = place(64);
  g.ctrl_complete = place(64);
  g.to_daemon = place(msg_slots);
  g.to_app = place(msg_slots);
  g.app_free = place(pool_slots);
  g.daemon_free = place(pool_slots);
  g.desc_offset = off;
  off = align_up(off + uint64_t{g.buffer_count} * sizeof(BufferDesc), 4096);
  g.data_offset = off;
  off += uint64_t{g.buffer_count} * g.buffer_size;
  g.total_size = align_up(off, page);
  return g;
}

}  // namespace machnet::channel
