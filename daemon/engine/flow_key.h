// The 4-tuple that names a flow, and its hashes (the protocol is always UDP).
#pragma once

#include <rte_jhash.h>

#include <cstddef>
#include <cstdint>
#include <random>

namespace machnet::engine {

struct FlowKey {
  uint32_t src_ip, dst_ip;
  uint16_t src_port, dst_port;
  bool operator==(const FlowKey&) const = default;
  FlowKey reversed() const { return {dst_ip, src_ip, dst_port, src_port}; }
};

// Drawn once per process. A peer chooses the source address and port of what it sends: with
// a hash it could compute, it could aim every flow at one bucket of the flow table and make
// each lookup walk them all. Keyed jhash, as Linux hashes its sockets (inet_ehashfn).
inline const uint32_t kFlowHashSecret = std::random_device{}();

struct FlowKeyHash {
  uint32_t seed = kFlowHashSecret;
  size_t operator()(const FlowKey& k) const {
    return rte_jhash_3words(k.src_ip, k.dst_ip, uint32_t{k.src_port} << 16 | k.dst_port, seed);
  }
};

// For maps keyed by a peer's address (the per-address flow counts).
struct RemoteIpHash {
  uint32_t seed = kFlowHashSecret;
  size_t operator()(uint32_t ip) const { return rte_jhash_1word(ip, seed); }
};

}  // namespace machnet::engine
