#include "dpdk/link_mtu.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>

namespace machnet::dpdk {
namespace {

// Interfaces of a pretend network namespace.
auto interfaces(std::map<std::string, uint32_t> mtus) {
  return [mtus = std::move(mtus)](std::string_view name) -> std::optional<uint32_t> {
    auto it = mtus.find(std::string(name));
    if (it == mtus.end()) return std::nullopt;
    return it->second;
  };
}

const auto kNone = interfaces({});

TEST(LinkMtu, AutoOnMemifIsJumboWithABufferSizedForIt) {
  auto link = resolve_link_mtu(std::nullopt, NicMode::kVdev, "net_memif0,role=client,socket=/run/m.sock", {}, kNone);
  ASSERT_TRUE(link) << link.error().message;
  EXPECT_EQ(link->mtu, 9000u);
  EXPECT_EQ(link->vdev, "net_memif0,role=client,socket=/run/m.sock,bsize=9216")
      << "memif's 2048-byte buffers would split a 9014-byte frame, which the receiver drops";
  EXPECT_EQ(link->rx_frame_bytes, 9216u);
}

TEST(LinkMtu, AnExplicitMemifBufferSizeCapsAutoAndIsKept) {
  auto link = resolve_link_mtu(std::nullopt, NicMode::kVdev, "net_memif0,role=server,bsize=4096,socket=/x", {}, kNone);
  ASSERT_TRUE(link);
  EXPECT_EQ(link->mtu, 4082u);
  EXPECT_EQ(link->vdev, "net_memif0,role=server,bsize=4096,socket=/x");
  EXPECT_EQ(link->rx_frame_bytes, 4096u);
}

TEST(LinkMtu, AConfiguredMtuOnMemifGetsAFittingBufferOrAClearError) {
  auto small = resolve_link_mtu(1500u, NicMode::kVdev, "net_memif0,role=client", {}, kNone);
  ASSERT_TRUE(small);
  EXPECT_EQ(small->mtu, 1500u);
  EXPECT_EQ(small->vdev, "net_memif0,role=client") << "1514-byte frames fit memif's own 2048";
  EXPECT_EQ(small->rx_frame_bytes, 2048u);

  auto big = resolve_link_mtu(4000u, NicMode::kVdev, "net_memif0,role=client", {}, kNone);
  ASSERT_TRUE(big);
  EXPECT_EQ(big->vdev, "net_memif0,role=client,bsize=4096");

  auto refused = resolve_link_mtu(9000u, NicMode::kVdev, "net_memif0,role=client,bsize=2048", {}, kNone);
  ASSERT_FALSE(refused);
  for (const char* part : {"bsize=2048", "[transport] mtu = 9000", "frames of 9014 bytes", "bsize=9014 or more",
                           "mtu = 2034 or less"})
    EXPECT_NE(refused.error().message.find(part), std::string::npos) << part << " in: " << refused.error().message;
  EXPECT_FALSE(resolve_link_mtu(std::nullopt, NicMode::kVdev, "net_memif0,bsize=lots", {}, kNone));
}

TEST(LinkMtu, AutoOnAfPacketIsTheInterfacesMtuWithinItsRingFrames) {
  const auto ns = interfaces({{"veth0", 9000}, {"eth1", 1500}, {"lo", 65536}});
  auto jumbo = resolve_link_mtu(std::nullopt, NicMode::kVdev, "net_af_packet0,iface=veth0,blocksz=36864,framesz=9216", {}, ns);
  ASSERT_TRUE(jumbo);
  EXPECT_EQ(jumbo->mtu, 9000u);
  EXPECT_EQ(jumbo->vdev, "net_af_packet0,iface=veth0,blocksz=36864,framesz=9216");
  EXPECT_EQ(jumbo->rx_frame_bytes, 9184u) << "the PMD copies framesz less its 32-byte header into one buffer";

  auto by_ring = resolve_link_mtu(std::nullopt, NicMode::kVdev, "net_af_packet0,iface=veth0", {}, ns);
  ASSERT_TRUE(by_ring);
  EXPECT_EQ(by_ring->mtu, 1968u) << "2048-byte ring frames hold 1982-byte Ethernet frames";

  auto standard = resolve_link_mtu(std::nullopt, NicMode::kVdev, "net_af_packet0,iface=eth1", {}, ns);
  ASSERT_TRUE(standard);
  EXPECT_EQ(standard->mtu, 1500u);

  auto loopback = resolve_link_mtu(std::nullopt, NicMode::kVdev, "net_af_packet0,iface=lo,framesz=16384,blocksz=16384", {}, ns);
  ASSERT_TRUE(loopback);
  EXPECT_EQ(loopback->mtu, 9000u) << "at most 9000";

  auto unknown = resolve_link_mtu(std::nullopt, NicMode::kVdev, "net_af_packet0,iface=gone", {}, ns);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->mtu, 1500u);

  auto configured = resolve_link_mtu(1400u, NicMode::kVdev, "net_af_packet0,iface=veth0,framesz=9216", {}, ns);
  ASSERT_TRUE(configured);
  EXPECT_EQ(configured->mtu, 1400u) << "a configured MTU is taken as it is";

  auto over = resolve_link_mtu(9000u, NicMode::kVdev, "net_af_packet0,iface=eth1,framesz=9216", {}, ns);
  ASSERT_TRUE(over);
  EXPECT_EQ(over->mtu, 1500u) << "the kernel would refuse every larger frame";
  EXPECT_EQ(over->source, "[transport] mtu = 9000, capped to interface eth1's MTU");
}

TEST(LinkMtu, RingFramesOrBuffersBeyondAPacketBufferAreRefused) {
  auto af = resolve_link_mtu(std::nullopt, NicMode::kVdev, "net_af_packet0,iface=x,framesz=65536,blocksz=65536", {}, kNone);
  ASSERT_FALSE(af);
  EXPECT_NE(af.error().message.find("framesz=65536"), std::string::npos) << af.error().message;
  EXPECT_NE(af.error().message.find("set framesz=65439 or less"), std::string::npos) << af.error().message;
  EXPECT_TRUE(resolve_link_mtu(std::nullopt, NicMode::kVdev, "net_af_packet0,iface=x,framesz=65439", {}, kNone));
  auto memif = resolve_link_mtu(std::nullopt, NicMode::kVdev, "net_memif0,bsize=65536", {}, kNone);
  ASSERT_FALSE(memif);
  EXPECT_NE(memif.error().message.find("bsize=65407 or less"), std::string::npos) << memif.error().message;
}

TEST(LinkMtu, AutoOnAPciNicIsWhatDetectionFound) {
  auto gcp = resolve_link_mtu(std::nullopt, NicMode::kPci, "", 1460u, kNone);
  ASSERT_TRUE(gcp);
  EXPECT_EQ(gcp->mtu, 1460u) << "GCP's VPC default: frames of 1500 would be dropped";
  EXPECT_EQ(gcp->rx_frame_bytes, 1474u);
  auto aws = resolve_link_mtu(std::nullopt, NicMode::kPci, "", 9001u, kNone);
  ASSERT_TRUE(aws);
  EXPECT_EQ(aws->mtu, 9000u) << "AWS's 9001 capped to the largest mtu the config takes";
  auto unknown = resolve_link_mtu(std::nullopt, NicMode::kPci, "", std::nullopt, kNone);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->mtu, 1500u);
  auto configured = resolve_link_mtu(1500u, NicMode::kPci, "", 9001u, kNone);
  ASSERT_TRUE(configured);
  EXPECT_EQ(configured->mtu, 1500u);
}

TEST(LinkMtu, OtherVirtualDevicesStayAt1500) {
  auto xdp = resolve_link_mtu(std::nullopt, NicMode::kVdev, "net_af_xdp0,iface=veth0", {}, interfaces({{"veth0", 9000}}));
  ASSERT_TRUE(xdp);
  EXPECT_EQ(xdp->mtu, 1500u);
}

TEST(LinkMtu, ReadsTheLoopbackInterface) {
  // Every network namespace has lo; its MTU is 65536 unless someone changed it.
  const auto lo = kernel_interface_mtu("lo");
  ASSERT_TRUE(lo.has_value());
  EXPECT_GE(*lo, 1500u);
  EXPECT_EQ(kernel_interface_mtu("no-such-if0"), std::nullopt);
  EXPECT_EQ(kernel_interface_mtu(""), std::nullopt);
}

}  // namespace
}  // namespace machnet::dpdk
