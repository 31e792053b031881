// [nic] mode = "auto" feeds the port: the chosen NIC and its plan become EAL's allow-list
// entry, the port's MAC and the daemon's address.
#include "nic/port_target.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "dpdk/eal.h"

namespace machnet::nic {
namespace {

using ::testing::HasSubstr;

Detection chosen(const std::string& bus, const std::string& address, const std::string& driver, PlanKind kind) {
  Detection d;
  d.cloud = CloudProvider::kAws;
  NicVerdict v;
  v.device.ifname = "ens6";
  v.device.bus = bus;
  v.device.bus_address = address;
  v.device.driver = driver;
  v.candidate = true;
  d.choice.nics.push_back(v);
  d.choice.chosen = 0;
  d.mac = MacAddress::parse("02:1a:2b:3c:4d:02");
  d.ip = Ipv4Prefix::parse("172.31.20.30/20");
  BindingPlan p;
  p.kind = kind;
  p.bus = bus;
  p.bus_address = address;
  p.dpdk_device = address;
  d.plan = p;
  return d;
}

TEST(PortTarget, NoChosenNicMeansNoPort) {
  Detection d;
  d.error = "no cloud detected";
  auto t = port_target(d);
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->has_value());
}

TEST(PortTarget, RefusedPlanMeansNoPort) {
  auto t = port_target(chosen("pci", "0000:00:06.0", "mana", PlanKind::kRefuse));
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->has_value());
}

TEST(PortTarget, PciNicIsAllowedInEalWithItsMacAndAddress) {
  auto t = port_target(chosen("pci", "0000:00:06.0", "ena", PlanKind::kRebind));
  ASSERT_TRUE(t && t->has_value());
  EXPECT_EQ((*t)->eal_device, "0000:00:06.0");

  Config c;
  c.dpdk.eal_args = {"--log-level=8"};
  const Config pc = port_config(c, **t);
  EXPECT_EQ(pc.nic.mode, NicMode::kPci);
  ASSERT_TRUE(pc.nic.ip);
  EXPECT_EQ(pc.nic.ip->to_string(), "172.31.20.30/20");
  ASSERT_TRUE(pc.nic.mac);
  EXPECT_EQ(pc.nic.mac->to_string(), "02:1a:2b:3c:4d:02");
  // EAL gets exactly one allow-list entry, the chosen device, and no --no-pci / --vdev.
  const auto args = dpdk::eal_arguments(pc, false, 0, "machnet-test");
  size_t allows = 0;
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "-a") {
      ++allows;
      EXPECT_EQ(args[i + 1], "0000:00:06.0");
    }
  EXPECT_EQ(allows, 1u);
  for (const auto& a : args) {
    EXPECT_NE(a, "--no-pci");
    EXPECT_NE(a, "--vdev");
  }
  EXPECT_EQ(args.back(), "--log-level=8");  // the user's own EAL arguments still come last
}

TEST(PortTarget, CarriesTheDetectedMtuForMtuAuto) {
  Detection d = chosen("pci", "0000:00:06.0", "ena", PlanKind::kRebind);
  d.mtu = 9001;  // AWS's interface MTU inside a VPC
  auto t = port_target(d);
  ASSERT_TRUE(t && t->has_value());
  EXPECT_EQ((*t)->mtu, 9001u) << "[transport] mtu = \"auto\" resolves from it (dpdk/link_mtu.h)";
  d.mtu.reset();
  auto unknown = port_target(d);
  ASSERT_TRUE(unknown && unknown->has_value());
  EXPECT_EQ((*unknown)->mtu, std::nullopt);
}

TEST(PortTarget, VmbusNicKeepsItsUuidAndDeviceArguments) {
  Detection d = chosen("vmbus", "f8615163-df3e-46c5-913f-f2d2f965ed0e", "hv_netvsc", PlanKind::kRebind);
  d.plan->dpdk_args = {"latency=0"};
  auto t = port_target(d);
  ASSERT_TRUE(t && t->has_value());
  EXPECT_EQ((*t)->eal_device, "f8615163-df3e-46c5-913f-f2d2f965ed0e,latency=0");
}

TEST(PortTarget, ChosenNicWithoutAnAddressIsAClearError) {
  Detection d = chosen("pci", "0000:00:06.0", "gve", PlanKind::kRebind);
  d.ip.reset();
  auto t = port_target(d);
  ASSERT_FALSE(t);
  EXPECT_THAT(t.error().message, HasSubstr("no IPv4 address is known for ens6"));
  EXPECT_THAT(t.error().message, HasSubstr("set [nic] ip"));
}

}  // namespace
}  // namespace machnet::nic
