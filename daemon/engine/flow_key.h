// The 4-tuple that names a flow, and its hash (the protocol is always UDP).
#pragma once

#include <cstddef>
#include <cstdint>

namespace machnet::engine {

struct FlowKey {
  uint32_t src_ip, dst_ip;
  uint16_t src_port, dst_port;
  bool operator==(const FlowKey&) const = default;
  FlowKey reversed() const { return {dst_ip, src_ip, dst_port, src_port}; }
};
struct FlowKeyHash {
  size_t operator()(const FlowKey& k) const {
    uint64_t x = (uint64_t{k.src_ip} << 32 | k.dst_ip) * 0x9e3779b97f4a7c15ULL;
    x ^= (uint64_t{k.src_port} << 16 | k.dst_port) * 0xc2b2ae3d27d4eb4fULL;
    return x ^ (x >> 29);
  }
};

}  // namespace machnet::engine
