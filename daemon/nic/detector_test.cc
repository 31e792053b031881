// Detection end to end on fake sysfs trees and a 127.0.0.1 metadata server: per cloud the
// chosen NIC, its MAC and IP/prefix, and the binding plan; the default-route NIC is never
// chosen; ambiguous and missing NICs are errors that list what was seen; a failed metadata
// service gives a clear error, or the [nic] fallback. Leaves out: applying plans (binder_test).
#include <gtest/gtest.h>

#include "nic/detector.h"
#include "nic/testing/nic_test_support.h"

namespace machnet::nic {
namespace {

using testing::FakeSysfs;
using testing::MetadataServer;

// Azure VM with accelerated networking: eth0 primary (default route), eth1 secondary, each a
// netvsc synthetic device with a mlx5 VF that shares its MAC.
void azure_netvsc_tree(FakeSysfs& fake) {
  fake.azure_dmi();
  fake.virtual_if("lo", "00:00:00:00:00:00");
  fake.vmbus_nic("000d3a1b-2c01-000d-3a1b-2c01000d3a1b", "eth0", "00:0d:3a:1b:2c:01", "hv_netvsc");
  fake.vmbus_nic("000d3a1b-2c02-000d-3a1b-2c02000d3a1b", "eth1", "00:0d:3a:1b:2c:02", "hv_netvsc");
  fake.pci_nic("1a2b:00:02.0", "enP6699s1", "00:0d:3a:1b:2c:01", "mlx5_core");
  fake.pci_nic("3c4d:00:02.0", "enP1234s2", "00:0d:3a:1b:2c:02", "mlx5_core");
  fake.driver("vmbus", "uio_hv_generic");
  fake.default_route("eth0");
}

void aws_tree(FakeSysfs& fake) {
  fake.aws_dmi();
  fake.virtual_if("lo", "00:00:00:00:00:00");
  fake.pci_nic("0000:00:05.0", "ens5", "02:1a:2b:3c:4d:01", "ena", 9001);
  fake.pci_nic("0000:00:06.0", "ens6", "02:1a:2b:3c:4d:02", "ena", 9001);
  fake.driver("pci", "vfio-pci");
  fake.default_route("ens5");
}

void gcp_tree(FakeSysfs& fake) {
  fake.gcp_dmi();
  fake.virtual_if("lo", "00:00:00:00:00:00");
  fake.pci_nic("0000:00:04.0", "ens4", "42:01:0a:80:00:07", "gve", 1460);
  fake.pci_nic("0000:00:05.0", "ens5", "42:01:0a:0a:00:05", "gve", 8896);
  fake.driver("pci", "vfio-pci");
  fake.default_route("ens4");
}

const nlohmann::json& nic_named(const nlohmann::json& report, const std::string& name) {
  for (const auto& n : report["nics"])
    if (n["name"] == name) return n;
  throw std::runtime_error("no NIC " + name + " in " + report.dump());
}

TEST(Detect, AzureNetvscChoosesSecondarySyntheticNic) {
  FakeSysfs fake;
  azure_netvsc_tree(fake);
  MetadataServer server(testing::azure_handler("azure_netvsc.json"));
  RealEnv env(fake.env_options(server.url()));
  auto d = detect(env, testing::test_config(fake, server.url()));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.cloud, CloudProvider::kAzure);
  EXPECT_NE(d.cloud_reason.find("7783-7084-3265-9085-8269-3286-77"), std::string::npos) << d.cloud_reason;
  EXPECT_NE(d.cloud_reason.find("confirmed"), std::string::npos) << d.cloud_reason;
  EXPECT_EQ(d.chosen()->device.ifname, "eth1");
  EXPECT_EQ(d.chosen()->device.bus, "vmbus");
  EXPECT_EQ(d.mac->to_string(), "00:0d:3a:1b:2c:02");
  EXPECT_EQ(d.ip->to_string(), "10.0.1.5/24");
  EXPECT_EQ(d.plan->kind, PlanKind::kRebind);
  EXPECT_EQ(d.plan->to_driver, "uio_hv_generic");
  const auto report = d.to_json();
  EXPECT_EQ(report["instance"]["id"], "5c08b38e-4d57-4c23-ac45-aca61037f084");
  EXPECT_EQ(nic_named(report, "eth0")["chosen"], false);
  EXPECT_EQ(nic_named(report, "eth0")["primary"], true);
  EXPECT_NE(nic_named(report, "enP1234s2")["reason"].get<std::string>().find("VF"), std::string::npos);
  EXPECT_EQ(nic_named(report, "eth1")["chosen"], true);
  EXPECT_TRUE(env.journal().empty()) << "detection must change nothing";
}

// Azure with MANA as a real VM shows it: eth0/eth1 synthetic (hv_netvsc), each with a MANA VF
// (1414:00ba, driver mana) that shares its MAC and is enslaved to it.
void azure_mana_tree(FakeSysfs& fake) {
  fake.azure_dmi();
  fake.vmbus_nic("6045bda1-b201-6045-bda1-b2016045bda1", "eth0", "60:45:bd:a1:b2:01", "hv_netvsc");
  fake.vmbus_nic("6045bda1-b202-6045-bda1-b2026045bda1", "eth1", "60:45:bd:a1:b2:02", "hv_netvsc");
  fake.pci_nic("7870:00:00.0", "enP30832s1", "60:45:bd:a1:b2:01", "mana");
  fake.pci_nic("7871:00:00.0", "enP30833s2", "60:45:bd:a1:b2:02", "mana");
  fake.pci_id("7870:00:00.0", "0x1414", "0x00ba");
  fake.pci_id("7871:00:00.0", "0x1414", "0x00ba");
  fake.enslave("enP30832s1", "eth0");
  fake.enslave("enP30833s2", "eth1");
  fake.default_route("eth0", 100, "10.1.0.1");
}

TEST(Detect, AzureManaVfIsPairedAndPlannedWithoutRebind) {
  FakeSysfs fake;
  azure_mana_tree(fake);
  MetadataServer server(testing::azure_handler("azure_mana.json"));
  RealEnv env(fake.env_options(server.url()));
  const Config config = testing::test_config(fake, server.url());
  // The DPDK in use has no MANA driver: refused, naming what is needed, plan still reported.
  auto d = detect(env, config);
  ASSERT_FALSE(d.ok());
  ASSERT_TRUE(d.chosen()) << d.error;
  EXPECT_EQ(d.chosen()->device.ifname, "eth1");
  EXPECT_EQ(d.chosen()->device.vf_address, "7871:00:00.0");
  EXPECT_NE(d.chosen()->device.vf_pairing.find("enslaved"), std::string::npos) << d.chosen()->device.vf_pairing;
  EXPECT_EQ(d.ip->to_string(), "10.1.1.4/24");
  EXPECT_EQ(d.plan->kind, PlanKind::kRefuse);
  EXPECT_EQ(d.plan->intended, PlanKind::kBifurcated);
  EXPECT_EQ(d.plan->dpdk_device, "7871:00:00.0");
  EXPECT_EQ(d.plan->dpdk_args, std::vector<std::string>{"mac=60:45:bd:a1:b2:02"});
  EXPECT_NE(d.error.find("no MANA driver"), std::string::npos) << d.error;
  EXPECT_NE(d.error.find("librte_net_mana.so"), std::string::npos) << d.error;
  EXPECT_NE(d.error.find("net_mana"), std::string::npos) << d.error;
  const auto report = d.to_json();
  EXPECT_EQ(report["plan"]["intended"], "bifurcated");
  EXPECT_NE(nic_named(report, "enP30833s2")["reason"].get<std::string>().find("VF of eth1"), std::string::npos);

  // With net_mana: usable, nothing rebound, DPDK gets the VF by PCI address and MAC.
  fake.dpdk_driver("librte_net_mana.so.23");
  d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.plan->kind, PlanKind::kBifurcated);
  EXPECT_EQ(d.plan->dpdk_device, "7871:00:00.0");
  EXPECT_EQ(d.plan->dpdk_args, std::vector<std::string>{"mac=60:45:bd:a1:b2:02"});
  EXPECT_TRUE(env.journal().empty()) << "detection must change nothing";
}

TEST(Detect, AwsEnaSecondaryEniNeedsIommuOrNoIommuPermission) {
  FakeSysfs fake;
  aws_tree(fake);
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  RealEnv env(fake.env_options(server.url()));
  Config config = testing::test_config(fake, server.url());
  auto d = detect(env, config);
  ASSERT_TRUE(d.chosen()) << d.error;
  EXPECT_EQ(d.chosen()->device.ifname, "ens6");
  EXPECT_EQ(d.chosen()->device.bus_address, "0000:00:06.0");
  EXPECT_EQ(d.mac->to_string(), "02:1a:2b:3c:4d:02");
  EXPECT_EQ(d.ip->to_string(), "172.31.20.30/20");
  EXPECT_EQ(d.plan->kind, PlanKind::kRefuse);
  EXPECT_NE(d.error.find("allow_noiommu"), std::string::npos) << d.error;

  config.nic.allow_noiommu = true;
  d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_TRUE(d.plan->noiommu);
  EXPECT_NE(d.plan->notes.at(0).find("taints the kernel"), std::string::npos);

  fake.iommu();
  config.nic.allow_noiommu = false;
  d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_FALSE(d.plan->noiommu);
  EXPECT_EQ(d.plan->to_driver, "vfio-pci");
}

TEST(Detect, GcpGvnicSecondaryNicWithMtu) {
  FakeSysfs fake;
  gcp_tree(fake);
  fake.iommu();
  MetadataServer server(testing::gcp_handler("gcp_two_nics.json"));
  RealEnv env(fake.env_options(server.url()));
  auto d = detect(env, testing::test_config(fake, server.url()));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.cloud, CloudProvider::kGcp);
  EXPECT_EQ(d.chosen()->device.ifname, "ens5");
  EXPECT_EQ(d.mac->to_string(), "42:01:0a:0a:00:05");
  EXPECT_EQ(d.ip->to_string(), "10.10.0.5/24");
  EXPECT_EQ(d.mtu, 8896u);
  EXPECT_EQ(d.plan->from_driver, "gve");
  EXPECT_EQ(d.plan->to_driver, "vfio-pci");
}

TEST(Detect, DefaultRouteNicIsNeverChosen) {
  // Metadata says ens6 is secondary, but the host routes through it: it must stay alone.
  FakeSysfs fake;
  fake.aws_dmi();
  fake.pci_nic("0000:00:05.0", "ens5", "02:1a:2b:3c:4d:01", "ena");
  fake.pci_nic("0000:00:06.0", "ens6", "02:1a:2b:3c:4d:02", "ena");
  fake.default_route("ens6");
  fake.iommu();
  fake.driver("pci", "vfio-pci");
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  RealEnv env(fake.env_options(server.url()));
  Config config = testing::test_config(fake, server.url());
  auto d = detect(env, config);
  ASSERT_FALSE(d.ok());
  EXPECT_FALSE(d.chosen());
  EXPECT_NE(d.error.find("ens6 (mac 02:1a:2b:3c:4d:02, pci 0000:00:06.0, driver ena): holds the default route"), std::string::npos) << d.error;
  // Not even when the configuration names it.
  config.nic.mac = MacAddress::parse("02:1a:2b:3c:4d:02");
  d = detect(env, config);
  EXPECT_FALSE(d.chosen());
  EXPECT_NE(d.error.find("holds the default route"), std::string::npos) << d.error;
}

TEST(Detect, AmbiguousNicsAreListed) {
  FakeSysfs fake;
  aws_tree(fake);
  fake.iommu();
  fake.pci_nic("0000:00:07.0", "ens7", "02:1a:2b:3c:4d:03", "ena");
  // A third ENI in the metadata too.
  auto base = testing::aws_handler("aws_two_enis.json");
  MetadataServer server([&](const testing::ServedRequest& r) -> HttpResponse {
    const std::string m3 = "/latest/meta-data/network/interfaces/macs/02:1a:2b:3c:4d:03/";
    if (r.method == "GET" && r.target == "/latest/meta-data/network/interfaces/macs/") {
      auto answer = base(r);
      if (answer.status == 200) answer.body += "\n02:1a:2b:3c:4d:03/";
      return answer;
    }
    if (r.method == "GET" && r.target.rfind(m3, 0) == 0) {
      auto check = base(testing::ServedRequest{r.method, "/latest/meta-data/instance-id", r.headers});
      if (check.status != 200) return check;
      const std::string leaf = r.target.substr(m3.size());
      if (leaf == "device-number") return {200, {}, "2"};
      if (leaf == "local-ipv4s") return {200, {}, "172.31.20.40"};
      if (leaf == "subnet-ipv4-cidr-block") return {200, {}, "172.31.16.0/20"};
    }
    return base(r);
  });
  RealEnv env(fake.env_options(server.url()));
  Config config = testing::test_config(fake, server.url());
  auto d = detect(env, config);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error.find("2 NICs qualify"), std::string::npos) << d.error;
  EXPECT_NE(d.error.find("ens6 (mac 02:1a:2b:3c:4d:02"), std::string::npos) << d.error;
  EXPECT_NE(d.error.find("ens7 (mac 02:1a:2b:3c:4d:03"), std::string::npos) << d.error;
  EXPECT_NE(d.error.find("ens5 (mac 02:1a:2b:3c:4d:01, pci 0000:00:05.0, driver ena): holds the default route"), std::string::npos) << d.error;
  // Naming one settles it.
  config.nic.pci = PciAddress::parse("0000:00:07.0");
  d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.chosen()->device.ifname, "ens7");
  EXPECT_EQ(d.ip->to_string(), "172.31.20.40/20");
}

TEST(Detect, MissingSecondaryNicIsListed) {
  FakeSysfs fake;
  fake.gcp_dmi();
  fake.pci_nic("0000:00:04.0", "ens4", "42:01:0a:80:00:07", "gve");
  fake.default_route("ens4");
  MetadataServer server(testing::gcp_handler("gcp_two_nics.json"));
  RealEnv env(fake.env_options(server.url()));
  auto d = detect(env, testing::test_config(fake, server.url()));
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error.find("no NIC qualifies"), std::string::npos) << d.error;
  EXPECT_NE(d.error.find("attach a secondary NIC"), std::string::npos) << d.error;
  EXPECT_NE(d.error.find("ens4 (mac 42:01:0a:80:00:07"), std::string::npos) << d.error;
}

TEST(Detect, AzureDmiButMetadataUnreachableErrorsThenFallsBackToConfig) {
  FakeSysfs fake;
  azure_netvsc_tree(fake);
  std::string dead_url;
  {
    MetadataServer gone([](const testing::ServedRequest&) { return HttpResponse{}; });
    dead_url = gone.url();
  }
  RealEnv env(fake.env_options(dead_url, std::chrono::milliseconds(100)));
  Config config = testing::test_config(fake, dead_url);
  auto d = detect(env, config);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.cloud, CloudProvider::kAzure);
  EXPECT_NE(d.cloud_reason.find("NOT confirmed"), std::string::npos) << d.cloud_reason;
  EXPECT_NE(d.error.find("azure: metadata service not usable after"), std::string::npos) << d.error;
  EXPECT_NE(d.error.find(dead_url), std::string::npos) << d.error;
  EXPECT_NE(d.error.find("set [nic] mac or pci"), std::string::npos) << d.error;

  config.nic.mac = MacAddress::parse("00:0d:3a:1b:2c:02");
  config.nic.ip = Ipv4Prefix::parse("10.0.1.5/24");
  d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_TRUE(d.config_fallback);
  EXPECT_EQ(d.chosen()->device.ifname, "eth1");
  EXPECT_EQ(d.ip->to_string(), "10.0.1.5/24");
  EXPECT_EQ(d.plan->to_driver, "uio_hv_generic");
  EXPECT_NE(d.chosen()->reason.find("fallback"), std::string::npos) << d.chosen()->reason;
}

TEST(Detect, AlreadyDpdkBoundDeviceIsUsedAsIs) {
  FakeSysfs fake;
  gcp_tree(fake);
  fake.pci_device("0000:00:06.0", "vfio-pci");  // bound by driverctl: no interface
  MetadataServer server(testing::gcp_handler("gcp_two_nics.json"));
  RealEnv env(fake.env_options(server.url()));
  Config config = testing::test_config(fake, server.url());
  config.nic.pci = PciAddress::parse("0000:00:06.0");
  auto d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.plan->kind, PlanKind::kUseAsBound);
  EXPECT_NE(d.plan->notes.at(0).find("left bound on stop"), std::string::npos);
}

TEST(Detect, VirtioNetIsItsPciDeviceOnVirtioPci) {
  // GCP VMs without gVNIC: the interface hangs off virtio2, whose parent is the PCI device.
  FakeSysfs fake;
  fake.gcp_dmi();
  fake.virtio_nic("0000:00:04.0", "virtio1", "ens4", "42:01:0a:80:00:07");
  fake.virtio_nic("0000:00:05.0", "virtio2", "ens5", "42:01:0a:0a:00:05");
  fake.driver("pci", "vfio-pci");
  fake.iommu();
  fake.default_route("ens4");
  MetadataServer server(testing::gcp_handler("gcp_two_nics.json"));
  RealEnv env(fake.env_options(server.url()));
  auto d = detect(env, testing::test_config(fake, server.url()));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.choice.nics.size(), 2u) << "the PCI parents must not show up a second time";
  EXPECT_EQ(d.chosen()->device.ifname, "ens5");
  EXPECT_EQ(d.chosen()->device.bus, "pci");
  EXPECT_EQ(d.chosen()->device.bus_address, "0000:00:05.0");
  EXPECT_EQ(d.plan->from_driver, "virtio-pci");
  EXPECT_EQ(d.plan->to_driver, "vfio-pci");
}

TEST(Detect, MellanoxIsNotRebound) {
  FakeSysfs fake;
  fake.aws_dmi();
  fake.pci_nic("0000:00:05.0", "ens5", "02:1a:2b:3c:4d:01", "ena");
  fake.pci_nic("0000:00:06.0", "ens6", "02:1a:2b:3c:4d:02", "mlx5_core");
  fake.default_route("ens5");
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  RealEnv env(fake.env_options(server.url()));
  auto d = detect(env, testing::test_config(fake, server.url()));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.plan->kind, PlanKind::kBifurcated);
}

TEST(Detect, NoCloudAndNoNamedNicSaysSo) {
  FakeSysfs fake;
  fake.dmi({{"sys_vendor", "QEMU"}, {"product_name", "Standard PC"}});
  fake.pci_nic("0000:00:03.0", "eth0", "52:54:00:12:34:56", "virtio-pci");
  RealEnv env(fake.env_options("http://127.0.0.1:9"));
  auto d = detect(env, testing::test_config(fake, "http://127.0.0.1:9"));
  EXPECT_EQ(d.cloud, CloudProvider::kNone);
  EXPECT_NE(d.error.find("no cloud detected"), std::string::npos) << d.error;
  EXPECT_NE(d.cloud_reason.find("QEMU"), std::string::npos) << d.cloud_reason;
}

// cloud-init gives every NIC a default route, with metrics 100, 200, ...: the primary is the
// lowest one; a secondary NIC with its own default route still qualifies.
TEST(Detect, AwsSecondaryEniWithItsOwnDefaultRouteQualifies) {
  FakeSysfs fake;
  aws_tree(fake);  // ens5: default route metric 100
  fake.default_route("ens6", 200, "172.31.16.1");
  fake.iommu();
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  RealEnv env(fake.env_options(server.url()));
  auto d = detect(env, testing::test_config(fake, server.url()));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.chosen()->device.ifname, "ens6");
  EXPECT_EQ(d.chosen()->device.route_metric, 200u);
  EXPECT_NE(d.chosen()->reason.find("metric 200"), std::string::npos) << d.chosen()->reason;
  EXPECT_EQ(d.plan->to_driver, "vfio-pci");
  const auto report = d.to_json();
  EXPECT_NE(nic_named(report, "ens5")["reason"].get<std::string>().find("holds the default route (metric 100"), std::string::npos);
  EXPECT_EQ(nic_named(report, "ens6")["primary"], false);
}

TEST(Detect, AzureSecondaryNicWithItsOwnDefaultRouteQualifies) {
  FakeSysfs fake;
  azure_netvsc_tree(fake);  // eth0: default route metric 100
  fake.default_route("eth1", 200, "10.0.1.1");
  MetadataServer server(testing::azure_handler("azure_netvsc.json"));
  RealEnv env(fake.env_options(server.url()));
  auto d = detect(env, testing::test_config(fake, server.url()));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.chosen()->device.ifname, "eth1");
  EXPECT_EQ(d.plan->to_driver, "uio_hv_generic");
}

TEST(Detect, LowestMetricWinsWhateverTheFileOrder) {
  // eth1's route comes first in /proc/net/route but has the higher metric.
  FakeSysfs fake;
  fake.azure_dmi();
  fake.vmbus_nic("000d3a1b-2c01-000d-3a1b-2c01000d3a1b", "eth0", "00:0d:3a:1b:2c:01", "hv_netvsc");
  fake.vmbus_nic("000d3a1b-2c02-000d-3a1b-2c02000d3a1b", "eth1", "00:0d:3a:1b:2c:02", "hv_netvsc");
  fake.driver("vmbus", "uio_hv_generic");
  fake.default_route("eth1", 200, "10.0.1.1");
  fake.default_route("eth0", 100, "10.0.0.1");
  RealEnv env(fake.env_options("http://127.0.0.1:9"));
  const auto devices = list_net_devices(env);
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_TRUE(devices[0].primary_route);
  EXPECT_FALSE(devices[1].primary_route);
  const auto routes = default_routes(env);
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].gateway.to_string(), "10.0.1.1");
  EXPECT_EQ(routes[0].metric, 200u);
}

// dpdk.service or driverctl bound eth1's VMBus device to uio_hv_generic before machnetd ran:
// no interface, no MAC, no record of ours. Its VF (no master any more) pairs with it by
// elimination and lends it its MAC, so the metadata service names it.
void azure_prebound_tree(FakeSysfs& fake) {
  fake.azure_dmi();
  fake.vmbus_nic("000d3a1b-2c01-000d-3a1b-2c01000d3a1b", "eth0", "00:0d:3a:1b:2c:01", "hv_netvsc");
  fake.vmbus_device("000d3a1b-2c02-000d-3a1b-2c02000d3a1b", "uio_hv_generic");
  fake.pci_nic("1a2b:00:02.0", "enP6699s1", "00:0d:3a:1b:2c:01", "mlx5_core");
  fake.pci_nic("3c4d:00:02.0", "enP1234s2", "00:0d:3a:1b:2c:02", "mlx5_core");
  fake.enslave("enP6699s1", "eth0");
  fake.default_route("eth0");
}

TEST(Detect, AzurePreboundVmbusDeviceIsPairedAndUsedAsIs) {
  FakeSysfs fake;
  azure_prebound_tree(fake);
  MetadataServer server(testing::azure_handler("azure_netvsc.json"));
  RealEnv env(fake.env_options(server.url()));
  auto d = detect(env, testing::test_config(fake, server.url()));
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.chosen()->device.bus, "vmbus");
  EXPECT_EQ(d.chosen()->device.bus_address, "000d3a1b-2c02-000d-3a1b-2c02000d3a1b");
  EXPECT_EQ(d.mac->to_string(), "00:0d:3a:1b:2c:02");
  EXPECT_EQ(d.ip->to_string(), "10.0.1.5/24");
  EXPECT_EQ(d.plan->kind, PlanKind::kUseAsBound);
  EXPECT_EQ(d.plan->dpdk_device, "000d3a1b-2c02-000d-3a1b-2c02000d3a1b");
  EXPECT_NE(d.plan->notes.at(0).find("no state record of ours"), std::string::npos) << d.plan->notes.at(0);
  EXPECT_NE(d.chosen()->device.vf_pairing.find("only VF without a master"), std::string::npos) << d.chosen()->device.vf_pairing;
  for (const auto& v : d.choice.nics)
    if (v.device.bus == "pci") {
      EXPECT_FALSE(v.candidate) << v.device.ifname << ": " << v.reason;
    }
}

TEST(Detect, AzureUnpairedVfIsNeverChosenAlone) {
  // Two synthetic devices bound by other tools, two VFs without a master: no elimination.
  FakeSysfs fake;
  fake.azure_dmi();
  fake.vmbus_nic("000d3a1b-2c01-000d-3a1b-2c01000d3a1b", "eth0", "00:0d:3a:1b:2c:01", "hv_netvsc");
  fake.vmbus_device("000d3a1b-2c02-000d-3a1b-2c02000d3a1b", "uio_hv_generic");
  fake.vmbus_device("000d3a1b-2c03-000d-3a1b-2c03000d3a1b", "uio_hv_generic");
  fake.pci_nic("1a2b:00:02.0", "enP6699s1", "00:0d:3a:1b:2c:01", "mlx5_core");
  fake.pci_nic("3c4d:00:02.0", "enP1234s2", "00:0d:3a:1b:2c:02", "mlx5_core");
  fake.pci_nic("5e6f:00:02.0", "enP5678s3", "00:0d:3a:1b:2c:03", "mlx5_core");
  fake.enslave("enP6699s1", "eth0");
  fake.default_route("eth0");
  MetadataServer server(testing::azure_handler("azure_netvsc.json"));
  RealEnv env(fake.env_options(server.url()));
  auto d = detect(env, testing::test_config(fake, server.url()));
  ASSERT_FALSE(d.ok());
  EXPECT_FALSE(d.chosen());
  EXPECT_NE(d.error.find("enP1234s2 (mac 00:0d:3a:1b:2c:02, pci 3c4d:00:02.0, driver mlx5_core): accelerated-networking VF "
                         "whose synthetic NIC cannot be told"),
            std::string::npos)
      << d.error;
}

TEST(Detect, IpAutoFallsBackToTheInterfaceAddressThenSaysWhyNone) {
  // Bare metal: no cloud, [nic] pci names the NIC, ip = "auto".
  FakeSysfs fake;
  fake.dmi({{"sys_vendor", "Dell Inc."}, {"product_name", "PowerEdge R650"}});
  fake.pci_nic("0000:3b:00.0", "eno1", "b4:96:91:00:00:01", "ixgbe");
  fake.pci_nic("0000:3b:00.1", "eno2", "b4:96:91:00:00:02", "ixgbe");
  fake.default_route("eno1");
  fake.iommu();
  fake.driver("pci", "vfio-pci");
  RealEnv env(fake.env_options("http://127.0.0.1:9"));
  Config config = testing::test_config(fake, "http://127.0.0.1:9");
  config.nic.pci = PciAddress::parse("0000:3b:00.1");
  auto d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_FALSE(d.ip);
  EXPECT_NE(d.ip_source.find("no cloud, so no metadata service"), std::string::npos) << d.ip_source;
  EXPECT_NE(d.ip_source.find("interface eno2 has no IPv4 address"), std::string::npos) << d.ip_source;

  fake.ipv4("eno2", "192.168.7.20/24");
  d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  ASSERT_TRUE(d.ip);
  EXPECT_EQ(d.ip->to_string(), "192.168.7.20/24");
  EXPECT_EQ(d.ip_source, "interface eno2");
  EXPECT_TRUE(env.journal().empty()) << "reading the address is not a change";
}

TEST(Detect, EnaOnVfioPciWarnsAboutWriteCombining) {
  FakeSysfs fake;
  aws_tree(fake);
  fake.iommu();
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  RealEnv env(fake.env_options(server.url()));
  Config config = testing::test_config(fake, server.url());
  auto d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  ASSERT_FALSE(d.plan->notes.empty());
  EXPECT_NE(d.plan->notes.back().find("write-combining"), std::string::npos) << d.plan->notes.back();
  EXPECT_NE(d.plan->notes.back().find("driver = \"keep\""), std::string::npos) << d.plan->notes.back();
  // Also when the ENI is on vfio-pci already (no interface: known by its PCI id).
  fake.pci_device("0000:00:07.0", "vfio-pci");
  fake.pci_id("0000:00:07.0", "0x1d0f", "0xec20");
  config.nic.pci = PciAddress::parse("0000:00:07.0");
  d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  EXPECT_EQ(d.plan->kind, PlanKind::kUseAsBound);
  EXPECT_NE(d.plan->notes.back().find("write-combining"), std::string::npos) << d.plan->notes.back();
  // gVNIC gets no such warning.
  FakeSysfs gcp;
  gcp_tree(gcp);
  gcp.iommu();
  MetadataServer gserver(testing::gcp_handler("gcp_two_nics.json"));
  RealEnv genv(gcp.env_options(gserver.url()));
  d = detect(genv, testing::test_config(gcp, gserver.url()));
  ASSERT_TRUE(d.ok()) << d.error;
  for (const auto& note : d.plan->notes) EXPECT_EQ(note.find("write-combining"), std::string::npos) << note;
}

TEST(Dmi, AwsXenAndPlainHyperV) {
  FakeSysfs xen;
  xen.dmi({{"sys_vendor", "Xen"}, {"bios_version", "4.11.amazon"}});
  RealEnv env(xen.env_options("http://127.0.0.1:9"));
  EXPECT_EQ(detect(env, testing::test_config(xen, "http://127.0.0.1:9")).cloud, CloudProvider::kAws);
  FakeSysfs hyperv;
  hyperv.dmi({{"sys_vendor", "Microsoft Corporation"}, {"chassis_asset_tag", "1234-5678"}});
  RealEnv env2(hyperv.env_options("http://127.0.0.1:9"));
  auto d = detect(env2, testing::test_config(hyperv, "http://127.0.0.1:9"));
  EXPECT_EQ(d.cloud, CloudProvider::kNone);
  EXPECT_NE(d.cloud_reason.find("plain Hyper-V"), std::string::npos) << d.cloud_reason;
}

}  // namespace
}  // namespace machnet::nic
