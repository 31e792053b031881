// The port's receive-side scaling as the daemon programs it (Toeplitz key and redirection
// table), computed in software exactly as the NIC computes it, so that a connecting engine
// can pick a UDP source port whose replies the NIC puts on that engine's own queue.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace machnet::engine {

class RssSteering {
 public:
  // The 40-byte key the daemon programs (the well-known default of many NICs' drivers).
  static const std::array<uint8_t, 40> kKey;

  // `reta`: queue of each redirection-table entry (its size a power of two).
  explicit RssSteering(std::vector<uint16_t> reta);

  // The queue the NIC picks for a UDP/IPv4 packet with this 4-tuple (host byte order).
  uint16_t queue_of(uint32_t src_ip, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port) const;
  // Whether replies to a flow from (local_ip, local_port) to (remote_ip, remote_port) land
  // on `queue`: the reply's source is the remote end.
  bool replies_reach(uint16_t queue, uint32_t local_ip, uint16_t local_port, uint32_t remote_ip,
                     uint16_t remote_port) const {
    return queue_of(remote_ip, local_ip, remote_port, local_port) == queue;
  }

 private:
  std::array<uint8_t, 40> key_be_;  // the key converted for rte_softrss_be
  std::vector<uint16_t> reta_;
};

}  // namespace machnet::engine
