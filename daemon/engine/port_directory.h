// Which engine holds each local UDP port (a listener, or the source port a connector
// chose), shared by all engines of the daemon. Written only when a port is taken or given
// back (listen, connect, close), read per received packet to find the engine that owns
// the packet's flow: one relaxed load, no lock. An engine counts its own uses of a port
// and takes or gives back the directory entry on the first and last.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace machnet::engine {

class PortDirectory {
 public:
  static constexpr int kNobody = -1;

  PortDirectory() : owner_(new std::atomic<uint8_t>[65536]) {
    for (uint32_t p = 0; p < 65536; ++p) owner_[p].store(0, std::memory_order_relaxed);
  }

  // Takes `port` for engine `engine` (< 255). False when any engine holds it already.
  bool claim(uint16_t port, uint32_t engine) {
    uint8_t expected = 0;
    return owner_[port].compare_exchange_strong(expected, static_cast<uint8_t>(engine + 1),
                                                std::memory_order_acq_rel);
  }
  void release(uint16_t port, uint32_t engine) {
    uint8_t expected = static_cast<uint8_t>(engine + 1);
    owner_[port].compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
  }
  // The engine holding `port`, or kNobody.
  int owner(uint16_t port) const { return static_cast<int>(owner_[port].load(std::memory_order_relaxed)) - 1; }

 private:
  std::unique_ptr<std::atomic<uint8_t>[]> owner_;
};

}  // namespace machnet::engine
