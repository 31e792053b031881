#include "dpdk/frame_limit.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace machnet::dpdk {
namespace {

TEST(FrameLimit, AfPacketFramesHoldTheKernelHeader) {
  EXPECT_EQ(vdev_max_rx_frame("net_af_packet0,iface=eth1,blocksz=4096,framesz=2048,framecnt=512"), 1982u);
  EXPECT_EQ(vdev_max_rx_frame("net_af_packet0,iface=eth1,framesz=1536"), 1470u);
  EXPECT_EQ(vdev_max_rx_frame("eth_af_packet1,framesz=1580,iface=x"), 1514u);
  EXPECT_EQ(vdev_max_rx_frame("net_af_packet0,iface=eth1"), 1982u) << "DPDK's default framesz is 2048";
}

TEST(FrameLimit, OtherDriversAndUnreadableValuesAreNotJudged) {
  EXPECT_EQ(vdev_max_rx_frame("net_memif0,role=server,socket=/tmp/x"), std::nullopt);
  EXPECT_EQ(vdev_max_rx_frame("net_af_xdp0,iface=eth1,framesz=1536"), std::nullopt);
  EXPECT_EQ(vdev_max_rx_frame("net_af_packet0,iface=eth1,framesz=big"), std::nullopt);
  EXPECT_EQ(vdev_max_rx_frame("net_af_packet0,iface=eth1,myframesz=100"), 1982u);
}

TEST(FrameLimit, TooSmallAFrameForTheMtuNamesBothKeys) {
  EXPECT_EQ(check_vdev_frame_fits("net_af_packet0,iface=eth1,framesz=2048", 1500), std::nullopt);
  EXPECT_EQ(check_vdev_frame_fits("net_af_packet0,iface=eth1,framesz=1536", 1456), std::nullopt);
  const auto error = check_vdev_frame_fits("net_af_packet0,iface=eth1,framesz=1536", 1500);
  ASSERT_TRUE(error.has_value());
  for (const char* part : {"framesz=1536", "at most 1470 bytes", "[transport] mtu = 1500", "framesz=1580 or more",
                           "[nic] vdev", "[transport] mtu = 1456 or less"})
    EXPECT_NE(error->find(part), std::string::npos) << part << " in: " << *error;
  EXPECT_EQ(check_vdev_frame_fits("net_memif0,role=client,socket=/x", 9000), std::nullopt);
}

// What rte_eth_dev_configure accepts as rxmode.mtu (checked there as mtu + overhead <=
// max_rx_pktlen and mtu <= max_mtu): asking for more made the daemon fail to start on memif
// and af_packet with `[transport] mtu = 9000` ("configure ... failed: Invalid argument").
TEST(FrameLimit, PortMaxMtuFollowsDpdksOwnRule) {
  EXPECT_EQ(port_max_mtu(1518, UINT16_MAX), 1500u) << "memif and af_packet in DPDK 22.11";
  EXPECT_EQ(port_max_mtu(9728, 9710), 9710u) << "a NIC that reports both: its own overhead";
  EXPECT_EQ(port_max_mtu(16128, 9000), 9000u);
  EXPECT_EQ(port_max_mtu(9018, UINT16_MAX), 9000u);
  EXPECT_EQ(port_max_mtu(1500, 1500), 1482u) << "max_mtu not below the frame: Ethernet header and CRC";
  EXPECT_EQ(port_max_mtu(10, UINT16_MAX), 0u);
}

}  // namespace
}  // namespace machnet::dpdk
