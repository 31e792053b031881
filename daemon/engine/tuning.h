// Compile-time knobs of the engine, with what each trades off.
#pragma once

#include <cstdint>

namespace machnet::engine {

// Messages taken from one channel per loop iteration: larger amortises ring index traffic,
// smaller keeps one busy sender from delaying the other channels.
inline constexpr uint32_t kBurst = 32;

// Buffers taken back from a channel's daemon_free ring per iteration.
inline constexpr uint32_t kReclaimBurst = 256;

// First idle sleep of the adaptive poller; doubles up to [engine] adaptive_max_sleep_us.
// Shorter reacts faster after a lull, longer burns less CPU on an idle host.
inline constexpr uint64_t kFirstSleepNs = 20'000;

// After the last work (and after [engine] adaptive_yield_us of yielding), idle sleeps stay
// at kFirstSleepNs this long before they grow: the gap between the packets of a slower
// conversation (request, reply, next request) arriving from the port, which has no
// doorbell. Longer keeps latency low across slower conversations, at the CPU cost of up to
// 50 K short sleeps per second while it lasts.
inline constexpr uint64_t kConversationNs = 10'000'000;

// How long a message may wait for a full receiver before it is dropped (counted as
// receiver_full on the sender). Holding gives loss-free backpressure to slow receivers; the
// limit keeps a receiver that stopped reading from blocking its sender's other flows forever.
inline constexpr uint64_t kHoldLimitNs = 2'000'000'000;

}  // namespace machnet::engine
