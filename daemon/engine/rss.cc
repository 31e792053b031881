#include "engine/rss.h"

#include <rte_thash.h>

namespace machnet::engine {

const std::array<uint8_t, 40> RssSteering::kKey = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};

RssSteering::RssSteering(std::vector<uint16_t> reta) : reta_(std::move(reta)) {
  rte_convert_rss_key(reinterpret_cast<const uint32_t*>(kKey.data()), reinterpret_cast<uint32_t*>(key_be_.data()),
                      static_cast<int>(kKey.size()));
}

uint16_t RssSteering::queue_of(uint32_t src_ip, uint32_t dst_ip, uint16_t src_port, uint16_t dst_port) const {
  rte_ipv4_tuple t{};
  t.src_addr = src_ip;
  t.dst_addr = dst_ip;
  t.sport = src_port;
  t.dport = dst_port;
  const uint32_t hash = rte_softrss_be(reinterpret_cast<uint32_t*>(&t), RTE_THASH_V4_L4_LEN, key_be_.data());
  return reta_.empty() ? 0 : reta_[hash & (reta_.size() - 1)];
}

}  // namespace machnet::engine
