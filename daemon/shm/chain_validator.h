// Checks a message chain an application wrote before the daemon uses any of it. Every field
// is read once into private memory, so the application cannot change what was checked
// while it is being used (only payload bytes are read later, and those are only copied).
#pragma once

#include <cstdint>
#include <span>

#include "channel/channel_layout.h"
#include "channel/channel_view.h"

namespace machnet::shm {

struct CheckedMessage {
  uint32_t count = 0;    // buffers in the chain (indices and lengths in the caller's arrays)
  uint32_t msg_len = 0;
  uint16_t flags = 0;
  uint32_t src_ip = 0, dst_ip = 0;
  uint16_t src_port = 0, dst_port = 0;
};

// Walks the chain that starts at `head`. `app_owned[i - app_pool_first]` is 1 for each
// app-pool buffer the application holds; every buffer of a good chain is claimed (set to 0)
// as it is walked, which also catches cycles and buffers named twice. `idx`/`len` must hold
// geometry.max_chain entries.
//
// Returns kDropReasonCount when the chain is good. Otherwise the reason; `*claimed` says how
// many buffers (idx[0..claimed)) were claimed before the fault, for the caller to give back.
uint32_t check_chain(const channel::ChannelView& view, uint32_t head, std::span<uint8_t> app_owned,
                     uint32_t* idx, uint32_t* len, CheckedMessage* out, uint32_t* claimed);

// Gives claimed buffers back to the application's ownership (the message waits).
void unclaim(const channel::ChannelView& view, std::span<uint8_t> app_owned, const uint32_t* idx, uint32_t n);

}  // namespace machnet::shm
