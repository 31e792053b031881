// The only way the control thread talks to an engine: a bounded single-producer (control
// thread) / single-consumer (engine) queue of pointers to commands in daemon memory. The
// producer waits on the command's `done` flag (C++20 atomic wait), which the engine sets
// between bursts.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace machnet::engine {

template <typename T, uint32_t N>
class SpscQueue {
  static_assert((N & (N - 1)) == 0, "N must be a power of two");

 public:
  bool push(T v) {  // producer only
    const uint32_t h = head_.load(std::memory_order_relaxed);
    if (h - tail_.load(std::memory_order_acquire) == N) return false;
    slots_[h & (N - 1)] = v;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  bool pop(T* out) {  // consumer only
    const uint32_t t = tail_.load(std::memory_order_relaxed);
    if (head_.load(std::memory_order_acquire) == t) return false;
    *out = slots_[t & (N - 1)];
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

 private:
  alignas(64) std::atomic<uint32_t> head_{0};
  alignas(64) std::atomic<uint32_t> tail_{0};
  std::array<T, N> slots_{};
};

}  // namespace machnet::engine
