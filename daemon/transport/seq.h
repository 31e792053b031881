// Packet sequence numbers wrap at 2^32: compare them by their signed distance, as TCP does.
// Valid while the two numbers are less than 2^31 apart, which the window (at most
// kMaxWindow packets in flight) guarantees.
#pragma once

#include <cstdint>

namespace machnet::transport {

constexpr int32_t seq_diff(uint32_t a, uint32_t b) { return static_cast<int32_t>(a - b); }
constexpr bool seq_lt(uint32_t a, uint32_t b) { return seq_diff(a, b) < 0; }
constexpr bool seq_le(uint32_t a, uint32_t b) { return seq_diff(a, b) <= 0; }
constexpr bool seq_gt(uint32_t a, uint32_t b) { return seq_diff(a, b) > 0; }
constexpr bool seq_ge(uint32_t a, uint32_t b) { return seq_diff(a, b) >= 0; }

static_assert(seq_lt(0xffffffffu, 0u));
static_assert(seq_gt(5u, 0xfffffff0u));

}  // namespace machnet::transport
