// The fast checksum must agree with DPDK's reference loop on every length and alignment,
// and with RFC 1071's worked example.
#include "net/checksum.h"

#include <gtest/gtest.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

namespace machnet::net {
namespace {

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (big-endian); read
  // little-endian, as both loops here do, the bytes of the result are swapped.
  const uint8_t bytes[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  EXPECT_EQ(raw_sum(bytes, sizeof(bytes)), 0xf2dd);
}

TEST(Checksum, AgreesWithDpdkOnEveryLengthAndAlignment) {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(2100);
  for (int round = 0; round < 4; ++round) {
    for (auto& b : buf) b = round == 3 ? 0xff : static_cast<uint8_t>(rng());  // all ones: every carry
    for (size_t offset = 0; offset < 8; ++offset)
      for (size_t len = 0; len <= 2048; ++len)
        ASSERT_EQ(raw_sum(buf.data() + offset, len), rte_raw_cksum(buf.data() + offset, len))
            << "offset " << offset << " len " << len << " round " << round;
  }
}

TEST(Checksum, UdpFieldMatchesDpdkAndVerifies) {
  std::mt19937 rng(11);
  std::vector<uint8_t> frame(sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + 1500);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(frame.data());
  auto* udp = reinterpret_cast<rte_udp_hdr*>(frame.data() + sizeof(rte_ipv4_hdr));
  for (uint32_t payload : {0u, 1u, 7u, 64u, 1023u, 1024u, 1500u}) {
    for (auto& b : frame) b = static_cast<uint8_t>(rng());
    const uint32_t udp_len = sizeof(rte_udp_hdr) + payload;
    ip->version_ihl = RTE_IPV4_VHL_DEF;
    ip->next_proto_id = IPPROTO_UDP;
    ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + udp_len));
    udp->dgram_len = rte_cpu_to_be_16(static_cast<uint16_t>(udp_len));
    udp->dgram_cksum = 0;
    const uint16_t ours = udp_checksum(ip, udp, udp_len);
    EXPECT_EQ(ours, rte_ipv4_udptcp_cksum(ip, udp)) << payload;
    EXPECT_NE(ours, 0);
    udp->dgram_cksum = ours;
    EXPECT_TRUE(udp_checksum_verifies(ip, udp, udp_len)) << payload;
    // A flipped bit in the payload is caught.
    if (payload == 0) continue;
    frame[sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + payload / 2] ^= 0x10;
    EXPECT_FALSE(udp_checksum_verifies(ip, udp, udp_len)) << payload;
  }
}

TEST(Checksum, CopyAndSumCopiesAndSumsAsTheTwoPassesDo) {
  std::mt19937 rng(13);
  std::vector<uint8_t> src(2100), dst(2100);
  for (int round = 0; round < 3; ++round) {
    for (auto& b : src) b = round == 2 ? 0xff : static_cast<uint8_t>(rng());
    for (size_t offset = 0; offset < 4; ++offset)
      for (size_t len = 0; len <= 2048; ++len) {
        std::fill(dst.begin(), dst.end(), 0x5a);
        ASSERT_EQ(copy_and_sum(dst.data() + (offset ^ 1), src.data() + offset, len), raw_sum(src.data() + offset, len))
            << "offset " << offset << " len " << len << " round " << round;
        ASSERT_EQ(std::memcmp(dst.data() + (offset ^ 1), src.data() + offset, len), 0) << "len " << len;
        ASSERT_EQ(dst[(offset ^ 1) + len], 0x5a) << "wrote past the end, len " << len;
      }
  }
}

TEST(Checksum, PiecesAtOddOffsetsAddUpToTheWhole) {
  // The transmit path sums a payload piece by piece (one per channel buffer), and the
  // pieces may start at odd offsets.
  std::mt19937 rng(17);
  std::vector<uint8_t> src(1500), dst(1500);
  for (auto& b : src) b = static_cast<uint8_t>(rng());
  for (size_t cut1 : {0u, 1u, 7u, 32u, 333u, 1000u})
    for (size_t cut2 : {1u, 2u, 65u, 499u}) {
      const size_t a = cut1, b = std::min<size_t>(cut1 + cut2, src.size());
      uint64_t sum = sum_at(copy_and_sum(dst.data(), src.data(), a), 0);
      sum += sum_at(copy_and_sum(dst.data() + a, src.data() + a, b - a), a);
      sum += sum_at(copy_and_sum(dst.data() + b, src.data() + b, src.size() - b), b);
      EXPECT_EQ(fold_sum(sum), raw_sum(src.data(), src.size())) << cut1 << " " << cut2;
      EXPECT_EQ(dst, src);
    }
}

}  // namespace
}  // namespace machnet::net
