// Applying and restoring binding plans on fake sysfs trees whose kernel stand-in moves the
// `driver` links: the exact sequence of sysfs writes (and of recorded ip commands) for bind
// and for restore, per cloud; the state record written before the first change; a simulated
// crash followed by a second run that restores from the record; NicManager start/stop.
#include <gtest/gtest.h>

#include <filesystem>

#include "nic/binder.h"
#include "nic/detector.h"
#include "nic/nic_manager.h"
#include "nic/testing/nic_test_support.h"
#include "nic/state_record.h"

namespace machnet::nic {
namespace {

using testing::FakeSysfs;
using testing::MetadataServer;
using Lines = std::vector<std::string>;

void aws_tree(FakeSysfs& fake) {
  fake.aws_dmi();
  fake.pci_nic("0000:00:05.0", "ens5", "02:1a:2b:3c:4d:01", "ena", 9001);
  fake.pci_nic("0000:00:06.0", "ens6", "02:1a:2b:3c:4d:02", "ena", 9001);
  fake.driver("pci", "vfio-pci");
  fake.default_route("ens5");
  fake.iommu();
}

const Lines kAwsRestore = {
    "write sys/bus/pci/devices/0000:00:06.0/driver_override = \n",
    "write sys/bus/pci/drivers/vfio-pci/unbind = 0000:00:06.0",
    "write sys/bus/pci/drivers/ena/bind = 0000:00:06.0",
    "write sys/class/net/ens6/mtu = 9001",
    "run ip addr replace 172.31.20.30/20 dev ens6",
    "run ip link set dev ens6 up",
};

// Detects and applies; returns the detection.
Detection detect_and_apply(RealEnv& env, const Config& config, const std::vector<std::string>& addresses) {
  Detection d = detect(env, config);
  EXPECT_TRUE(d.ok()) << d.error;
  if (!d.ok()) return d;
  auto r = apply_plan(env, *d.plan, d.chosen()->device, addresses, config.daemon.state_dir);
  EXPECT_TRUE(r) << r.error().message;
  return d;
}

TEST(Binder, AwsEnaToVfioPciAndBack) {
  FakeSysfs fake;
  aws_tree(fake);
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  RealEnv env(fake.env_options(server.url()));
  const Config config = testing::test_config(fake, server.url());
  detect_and_apply(env, config, {"172.31.20.30/20"});
  EXPECT_EQ(fake.writes(env), (Lines{
                                  "write sys/bus/pci/devices/0000:00:06.0/driver_override = vfio-pci",
                                  "write sys/bus/pci/drivers/ena/unbind = 0000:00:06.0",
                                  "write sys/bus/pci/drivers/vfio-pci/bind = 0000:00:06.0",
                              }));
  EXPECT_EQ(fake.driver_of("pci", "0000:00:06.0"), "vfio-pci");
  EXPECT_FALSE(fake.has_interface("ens6"));
  EXPECT_EQ(fake.driver_of("pci", "0000:00:05.0"), "ena") << "the primary ENI must be untouched";

  // The record is there and says what to put back.
  auto record = read_state(env, config.daemon.state_dir);
  ASSERT_TRUE(record && *record);
  EXPECT_EQ((*record)->original_driver, "ena");
  EXPECT_EQ((*record)->ifname, "ens6");
  EXPECT_EQ((*record)->mac, "02:1a:2b:3c:4d:02");
  EXPECT_EQ((*record)->mtu, 9001u);
  EXPECT_EQ((*record)->addresses, Lines{"172.31.20.30/20"});

  env.clear_journal();
  auto restored = restore_if_recorded(env, config.daemon.state_dir);
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ(fake.writes(env), kAwsRestore);
  EXPECT_EQ(fake.driver_of("pci", "0000:00:06.0"), "ena");
  EXPECT_TRUE(fake.has_interface("ens6"));
  EXPECT_FALSE(std::filesystem::exists(state_path(config.daemon.state_dir)));
}

TEST(Binder, AzureNetvscToUioHvGenericAndBack) {
  FakeSysfs fake;
  fake.azure_dmi();
  const std::string guid = "000d3a1b-2c02-000d-3a1b-2c02000d3a1b";
  fake.vmbus_nic("000d3a1b-2c01-000d-3a1b-2c01000d3a1b", "eth0", "00:0d:3a:1b:2c:01", "hv_netvsc");
  fake.vmbus_nic(guid, "eth1", "00:0d:3a:1b:2c:02", "hv_netvsc");
  fake.pci_nic("3c4d:00:02.0", "enP1234s2", "00:0d:3a:1b:2c:02", "mlx5_core");
  fake.driver("vmbus", "uio_hv_generic");
  fake.default_route("eth0");
  MetadataServer server(testing::azure_handler("azure_netvsc.json"));
  RealEnv env(fake.env_options(server.url()));
  const Config config = testing::test_config(fake, server.url());
  detect_and_apply(env, config, {});
  EXPECT_EQ(fake.writes(env), (Lines{
                                  "write sys/bus/vmbus/devices/" + guid + "/driver_override = uio_hv_generic",
                                  "write sys/bus/vmbus/drivers/hv_netvsc/unbind = " + guid,
                                  "write sys/bus/vmbus/drivers/uio_hv_generic/bind = " + guid,
                              }));
  EXPECT_EQ(fake.driver_of("vmbus", guid), "uio_hv_generic");
  env.clear_journal();
  ASSERT_TRUE(restore_if_recorded(env, config.daemon.state_dir));
  EXPECT_EQ(fake.writes(env), (Lines{
                                  "write sys/bus/vmbus/devices/" + guid + "/driver_override = \n",
                                  "write sys/bus/vmbus/drivers/uio_hv_generic/unbind = " + guid,
                                  "write sys/bus/vmbus/drivers/hv_netvsc/bind = " + guid,
                                  "write sys/class/net/eth1/mtu = 1500",
                                  "run ip link set dev eth1 up",
                              }));
  EXPECT_EQ(fake.driver_of("vmbus", guid), "hv_netvsc");
}

TEST(Binder, GcpGvnicWithNoIommuEnablesItFirst) {
  FakeSysfs fake;
  fake.gcp_dmi();
  fake.pci_nic("0000:00:04.0", "ens4", "42:01:0a:80:00:07", "gve", 1460);
  fake.pci_nic("0000:00:05.0", "ens5", "42:01:0a:0a:00:05", "gve", 8896);
  fake.driver("pci", "vfio-pci");
  fake.vfio_noiommu_param();
  fake.default_route("ens4");
  MetadataServer server(testing::gcp_handler("gcp_two_nics.json"));
  RealEnv env(fake.env_options(server.url()));
  Config config = testing::test_config(fake, server.url());
  config.nic.allow_noiommu = true;
  detect_and_apply(env, config, {"10.10.0.5/24"});
  EXPECT_EQ(fake.writes(env), (Lines{
                                  "write sys/module/vfio/parameters/enable_unsafe_noiommu_mode = Y",
                                  "write sys/bus/pci/devices/0000:00:05.0/driver_override = vfio-pci",
                                  "write sys/bus/pci/drivers/gve/unbind = 0000:00:05.0",
                                  "write sys/bus/pci/drivers/vfio-pci/bind = 0000:00:05.0",
                              }));
  env.clear_journal();
  ASSERT_TRUE(restore_if_recorded(env, config.daemon.state_dir));
  EXPECT_EQ(fake.writes(env), (Lines{
                                  "write sys/bus/pci/devices/0000:00:05.0/driver_override = \n",
                                  "write sys/bus/pci/drivers/vfio-pci/unbind = 0000:00:05.0",
                                  "write sys/bus/pci/drivers/gve/bind = 0000:00:05.0",
                                  "write sys/class/net/ens5/mtu = 8896",
                                  "run ip addr replace 10.10.0.5/24 dev ens5",
                                  "run ip link set dev ens5 up",
                              }));
}

TEST(Binder, VirtioNetRebindsItsPciDeviceAndFindsTheInterfaceAgain) {
  FakeSysfs fake;
  fake.gcp_dmi();
  fake.virtio_nic("0000:00:04.0", "virtio1", "ens4", "42:01:0a:80:00:07");
  fake.virtio_nic("0000:00:05.0", "virtio2", "ens5", "42:01:0a:0a:00:05");
  fake.driver("pci", "vfio-pci");
  fake.iommu();
  fake.default_route("ens4");
  MetadataServer server(testing::gcp_handler("gcp_two_nics.json"));
  RealEnv env(fake.env_options(server.url()));
  const Config config = testing::test_config(fake, server.url());
  detect_and_apply(env, config, {});
  EXPECT_EQ(fake.writes(env), (Lines{
                                  "write sys/bus/pci/devices/0000:00:05.0/driver_override = vfio-pci",
                                  "write sys/bus/pci/drivers/virtio-pci/unbind = 0000:00:05.0",
                                  "write sys/bus/pci/drivers/vfio-pci/bind = 0000:00:05.0",
                              }));
  EXPECT_FALSE(fake.has_interface("ens5"));
  env.clear_journal();
  ASSERT_TRUE(restore_if_recorded(env, config.daemon.state_dir));
  EXPECT_EQ(fake.writes(env), (Lines{
                                  "write sys/bus/pci/devices/0000:00:05.0/driver_override = \n",
                                  "write sys/bus/pci/drivers/vfio-pci/unbind = 0000:00:05.0",
                                  "write sys/bus/pci/drivers/virtio-pci/bind = 0000:00:05.0",
                                  "write sys/class/net/ens5/mtu = 1460",
                                  "run ip link set dev ens5 up",
                              }));
  EXPECT_TRUE(fake.has_interface("ens5"));
}

TEST(Binder, CrashThenSecondRunRestoresFromRecord) {
  FakeSysfs fake;
  aws_tree(fake);
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  const Config config = testing::test_config(fake, server.url());
  {
    RealEnv first(fake.env_options(server.url()));
    detect_and_apply(first, config, {"172.31.20.30/20"});
    // The first run dies here: no restore.
  }
  ASSERT_EQ(fake.driver_of("pci", "0000:00:06.0"), "vfio-pci");
  ASSERT_TRUE(std::filesystem::exists(state_path(config.daemon.state_dir)));

  // The second run finds the NIC without an interface; the record supplies its MAC, so
  // detection still names it, and `machnetd --restore-nic` / the next start gives it back.
  RealEnv second(fake.env_options(server.url()));
  auto d = detect(second, config);
  ASSERT_TRUE(d.chosen()) << d.error;
  EXPECT_EQ(d.chosen()->device.bus_address, "0000:00:06.0");
  EXPECT_EQ(d.plan->kind, PlanKind::kUseAsBound);
  auto restored = restore_if_recorded(second, config.daemon.state_dir);
  ASSERT_TRUE(restored) << restored.error().message;
  EXPECT_EQ(*restored, "pci 0000:00:06.0 restored to ena");
  EXPECT_EQ(fake.writes(second), kAwsRestore);
  EXPECT_EQ(fake.driver_of("pci", "0000:00:06.0"), "ena");
}

TEST(Binder, RecordIsWrittenBeforeTheFirstChange) {
  FakeSysfs fake;
  aws_tree(fake);
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  const Config config = testing::test_config(fake, server.url());
  bool record_seen_first = false;
  auto options = fake.env_options(server.url());
  options.after_write = [&, inner = options.after_write](const std::string& path, std::string_view data) {
    if (path.find("driver_override") != std::string::npos)
      record_seen_first = std::filesystem::exists(state_path(config.daemon.state_dir));
    inner(path, data);
  };
  RealEnv env(options);
  detect_and_apply(env, config, {});
  EXPECT_TRUE(record_seen_first);
}

TEST(Binder, UnwritableStateDirChangesNothing) {
  FakeSysfs fake;
  aws_tree(fake);
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  Config config = testing::test_config(fake, server.url());
  config.daemon.state_dir = "/proc/machnet-cannot-write-here";
  RealEnv env(fake.env_options(server.url()));
  Detection d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  auto r = apply_plan(env, *d.plan, d.chosen()->device, {}, config.daemon.state_dir);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not touching 0000:00:06.0"), std::string::npos) << r.error().message;
  EXPECT_TRUE(env.journal().empty());
  EXPECT_EQ(fake.driver_of("pci", "0000:00:06.0"), "ena");
}

TEST(Binder, DriverThatNeverBindsIsAnErrorNamingTheDevice) {
  FakeSysfs fake;
  aws_tree(fake);
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  const Config config = testing::test_config(fake, server.url());
  auto options = fake.env_options(server.url());
  // A kernel that unbinds but whose vfio-pci refuses the device.
  options.after_write = [&, inner = options.after_write](const std::string& path, std::string_view data) {
    if (path.find("vfio-pci/bind") == std::string::npos) inner(path, data);
  };
  RealEnv env(options);
  Detection d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  auto r = apply_plan(env, *d.plan, d.chosen()->device, {}, config.daemon.state_dir);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("pci 0000:00:06.0: binding to vfio-pci"), std::string::npos) << r.error().message;
}

TEST(Binder, CorruptRecordIsReportedNotGuessed) {
  FakeSysfs fake;
  RealEnv env(fake.env_options("http://127.0.0.1:9"));
  ASSERT_TRUE(env.replace_file(state_path(fake.state_dir()), R"({"version":1,"bus":"pci","bus_address":"../../x","original_driver":"ena","target_driver":"vfio-pci"})"));
  auto r = restore_if_recorded(env, fake.state_dir());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a plain name"), std::string::npos) << r.error().message;
  EXPECT_TRUE(env.journal().empty());
}

TEST(NicManager, StartBindsStopRestores) {
  FakeSysfs fake;
  aws_tree(fake);
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  Config config = testing::test_config(fake, server.url());
  {
    NicManager manager(config, fake.env_options(server.url()));
    auto r = manager.start();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(fake.driver_of("pci", "0000:00:06.0"), "vfio-pci");
    auto status = manager.status();
    EXPECT_EQ(status["cloud"], "aws");
    EXPECT_EQ(status["nic"]["name"], "ens6");
    EXPECT_EQ(status["nic"]["ip"], "172.31.20.30/20");
    EXPECT_EQ(status["nic"]["bound_by_daemon"], true);
    manager.stop();
  }
  EXPECT_EQ(fake.driver_of("pci", "0000:00:06.0"), "ena");
  EXPECT_FALSE(std::filesystem::exists(state_path(config.daemon.state_dir)));

  // restore_on_stop = false leaves it bound, with the record kept for a later restore.
  config.nic.restore_on_stop = false;
  NicManager keep(config, fake.env_options(server.url()));
  ASSERT_TRUE(keep.start());
  keep.stop();
  EXPECT_EQ(fake.driver_of("pci", "0000:00:06.0"), "vfio-pci");
  EXPECT_TRUE(std::filesystem::exists(state_path(config.daemon.state_dir)));
}

TEST(NicManager, StartRefusesUnusableCloudNic) {
  FakeSysfs fake;
  aws_tree(fake);
  std::filesystem::remove_all(fake.sys() + "/class/iommu");
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  NicManager manager(testing::test_config(fake, server.url()), fake.env_options(server.url()));
  auto r = manager.start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("allow_noiommu"), std::string::npos) << r.error().message;
  EXPECT_EQ(fake.driver_of("pci", "0000:00:06.0"), "ena");
}

// Azure, eth1 with its own default route (metric 200) and its mlx5 VF enslaved to it.
const std::string kEth1Guid = "000d3a1b-2c02-000d-3a1b-2c02000d3a1b";

void azure_two_routes_tree(FakeSysfs& fake) {
  fake.azure_dmi();
  fake.vmbus_nic("000d3a1b-2c01-000d-3a1b-2c01000d3a1b", "eth0", "00:0d:3a:1b:2c:01", "hv_netvsc");
  fake.vmbus_nic(kEth1Guid, "eth1", "00:0d:3a:1b:2c:02", "hv_netvsc");
  fake.pci_nic("1a2b:00:02.0", "enP6699s1", "00:0d:3a:1b:2c:01", "mlx5_core");
  fake.pci_nic("3c4d:00:02.0", "enP1234s2", "00:0d:3a:1b:2c:02", "mlx5_core");
  fake.enslave("enP6699s1", "eth0");
  fake.enslave("enP1234s2", "eth1");
  fake.driver("vmbus", "uio_hv_generic");
  fake.default_route("eth0", 100, "10.0.0.1");
  fake.default_route("eth1", 200, "10.0.1.1");
  fake.ipv4("eth1", "10.0.1.5/24");
}

const Lines kAzureBind = {
    "write sys/bus/vmbus/devices/" + kEth1Guid + "/driver_override = uio_hv_generic",
    "write sys/bus/vmbus/drivers/hv_netvsc/unbind = " + kEth1Guid,
    "write sys/bus/vmbus/drivers/uio_hv_generic/bind = " + kEth1Guid,
};
const Lines kAzureRestoreWrites = {
    "write sys/bus/vmbus/devices/" + kEth1Guid + "/driver_override = \n",
    "write sys/bus/vmbus/drivers/uio_hv_generic/unbind = " + kEth1Guid,
    "write sys/bus/vmbus/drivers/hv_netvsc/bind = " + kEth1Guid,
    "write sys/class/net/eth1/mtu = 1500",
};

TEST(Binder, SecondaryDefaultRouteIsRecordedAndRestored) {
  FakeSysfs fake;
  azure_two_routes_tree(fake);
  MetadataServer server(testing::azure_handler("azure_netvsc.json"));
  RealEnv env(fake.env_options(server.url()));
  const Config config = testing::test_config(fake, server.url());
  detect_and_apply(env, config, {"10.0.1.5/24"});
  EXPECT_EQ(fake.writes(env), kAzureBind);
  auto record = read_state(env, config.daemon.state_dir);
  ASSERT_TRUE(record && *record);
  EXPECT_EQ((*record)->routes, (std::vector<RecordedRoute>{{"10.0.1.1", 200}}));
  env.clear_journal();
  ASSERT_TRUE(restore_if_recorded(env, config.daemon.state_dir));
  Lines expected = kAzureRestoreWrites;
  expected.push_back("run ip addr replace 10.0.1.5/24 dev eth1");
  expected.push_back("run ip link set dev eth1 up");
  expected.push_back("run ip route replace default via 10.0.1.1 dev eth1 metric 200");
  EXPECT_EQ(fake.writes(env), expected);
  EXPECT_EQ(fake.driver_of("vmbus", kEth1Guid), "hv_netvsc");
}

TEST(Binder, CheckFailureChangesNothing) {
  // No-IOMMU mode planned, but this kernel's vfio has none: refused before the first write.
  FakeSysfs fake;
  aws_tree(fake);
  std::filesystem::remove_all(fake.sys() + "/class/iommu");
  MetadataServer server(testing::aws_handler("aws_two_enis.json"));
  RealEnv env(fake.env_options(server.url()));
  Config config = testing::test_config(fake, server.url());
  config.nic.allow_noiommu = true;
  Detection d = detect(env, config);
  ASSERT_TRUE(d.ok()) << d.error;
  auto r = apply_plan(env, *d.plan, d.chosen()->device, {}, config.daemon.state_dir);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no no-IOMMU mode"), std::string::npos) << r.error().message;
  EXPECT_TRUE(fake.kernel_writes().empty());
  EXPECT_FALSE(std::filesystem::exists(state_path(config.daemon.state_dir)));
  EXPECT_EQ(fake.driver_of("pci", "0000:00:06.0"), "ena");
}

TEST(NicManager, RefusalsChangeNothing) {
  // [nic] fallback (metadata failed) with no ip and no address on the interface: the address
  // check comes before no-IOMMU mode and the unbind.
  FakeSysfs fake;
  aws_tree(fake);
  std::filesystem::remove_all(fake.sys() + "/class/iommu");
  fake.vfio_noiommu_param();
  MetadataServer broken([](const testing::ServedRequest&) { return HttpResponse{503, {}, "busy"}; });
  Config config = testing::test_config(fake, broken.url());
  config.cloud.metadata_timeout_ms = 100;
  config.nic.mac = MacAddress::parse("02:1a:2b:3c:4d:02");
  config.nic.allow_noiommu = true;
  {
    NicManager manager(config, fake.env_options(broken.url(), std::chrono::milliseconds(100)));
    auto r = manager.start();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("set [nic] ip"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("the metadata service failed"), std::string::npos) << r.error().message;
    manager.stop();
  }
  EXPECT_EQ(fake.kernel_writes(), Lines{});
  EXPECT_EQ(fake.read("module/vfio/parameters/enable_unsafe_noiommu_mode"), "N\n");
  EXPECT_EQ(fake.driver_of("pci", "0000:00:06.0"), "ena");
  EXPECT_FALSE(std::filesystem::exists(state_path(config.daemon.state_dir)));

  // Bare metal, [nic] pci named, ip = "auto", no address: no word of a metadata service.
  FakeSysfs metal;
  metal.dmi({{"sys_vendor", "Dell Inc."}});
  metal.pci_nic("0000:3b:00.0", "eno1", "b4:96:91:00:00:01", "ixgbe");
  metal.pci_nic("0000:3b:00.1", "eno2", "b4:96:91:00:00:02", "ixgbe");
  metal.default_route("eno1");
  metal.iommu();
  metal.driver("pci", "vfio-pci");
  Config bare = testing::test_config(metal, "http://127.0.0.1:9");
  bare.nic.pci = PciAddress::parse("0000:3b:00.1");
  NicManager manager(bare, metal.env_options("http://127.0.0.1:9"));
  auto r = manager.start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no IPv4 address is known for eno2 (none known: no cloud"), std::string::npos)
      << r.error().message;
  EXPECT_EQ(r.error().message.find("metadata service gave"), std::string::npos) << r.error().message;
  EXPECT_EQ(metal.kernel_writes(), Lines{});
  EXPECT_EQ(metal.driver_of("pci", "0000:3b:00.1"), "ixgbe");
}

TEST(NicManager, AzureSecondDefaultRouteStartStop) {
  FakeSysfs fake;
  azure_two_routes_tree(fake);
  MetadataServer server(testing::azure_handler("azure_netvsc.json"));
  const Config config = testing::test_config(fake, server.url());
  {
    NicManager manager(config, fake.env_options(server.url()));
    auto r = manager.start();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(fake.kernel_writes(), kAzureBind);
    auto status = manager.status();
    EXPECT_EQ(status["nic"]["name"], "eth1");
    EXPECT_EQ(status["nic"]["driver"], "uio_hv_generic");
    EXPECT_EQ(status["nic"]["original_driver"], "hv_netvsc");
    EXPECT_EQ(status["nic"]["vf"]["pci"], "3c4d:00:02.0");
    fake.clear_kernel_writes();
    manager.stop();
    EXPECT_EQ(fake.kernel_writes(), kAzureRestoreWrites);
  }
  EXPECT_EQ(fake.driver_of("vmbus", kEth1Guid), "hv_netvsc");
  EXPECT_TRUE(fake.has_interface("eth1"));
}

TEST(NicManager, AzureKilledWhileBoundIsDetectedThenRestoredAndBoundAgain) {
  FakeSysfs fake;
  azure_two_routes_tree(fake);
  MetadataServer server(testing::azure_handler("azure_netvsc.json"));
  const Config config = testing::test_config(fake, server.url());
  {
    NicManager first(config, fake.env_options(server.url()));
    ASSERT_TRUE(first.start());
    // Destroyed without stop(): kill -9.
  }
  ASSERT_EQ(fake.driver_of("vmbus", kEth1Guid), "uio_hv_generic");
  ASSERT_FALSE(fake.has_interface("eth1"));
  // `machnetd --detect` now: eth1 has no interface, its VF no master; the record pairs them.
  {
    RealEnv env(fake.env_options(server.url()));
    auto d = detect(env, config);
    ASSERT_TRUE(d.ok()) << d.error;
    EXPECT_EQ(d.chosen()->device.bus_address, kEth1Guid);
    EXPECT_EQ(d.chosen()->device.vf_address, "3c4d:00:02.0");
    EXPECT_EQ(d.plan->kind, PlanKind::kUseAsBound);
    EXPECT_NE(d.plan->notes.at(0).find("by machnetd"), std::string::npos) << d.plan->notes.at(0);
    EXPECT_TRUE(env.journal().empty());
  }
  fake.clear_kernel_writes();
  NicManager second(config, fake.env_options(server.url()));
  ASSERT_TRUE(second.start());
  Lines expected = kAzureRestoreWrites;
  expected.insert(expected.end(), kAzureBind.begin(), kAzureBind.end());
  EXPECT_EQ(fake.kernel_writes(), expected);
  second.stop();
  EXPECT_EQ(fake.driver_of("vmbus", kEth1Guid), "hv_netvsc");
}

TEST(NicManager, PreboundVmbusDeviceIsUsedAndNeverRestored) {
  FakeSysfs fake;
  fake.azure_dmi();
  fake.vmbus_nic("000d3a1b-2c01-000d-3a1b-2c01000d3a1b", "eth0", "00:0d:3a:1b:2c:01", "hv_netvsc");
  fake.vmbus_device(kEth1Guid, "uio_hv_generic");  // by dpdk.service / driverctl
  fake.pci_nic("1a2b:00:02.0", "enP6699s1", "00:0d:3a:1b:2c:01", "mlx5_core");
  fake.pci_nic("3c4d:00:02.0", "enP1234s2", "00:0d:3a:1b:2c:02", "mlx5_core");
  fake.enslave("enP6699s1", "eth0");
  fake.default_route("eth0");
  MetadataServer server(testing::azure_handler("azure_netvsc.json"));
  const Config config = testing::test_config(fake, server.url());
  NicManager manager(config, fake.env_options(server.url()));
  auto r = manager.start();
  ASSERT_TRUE(r) << r.error().message;
  auto target = manager.port_target();
  ASSERT_TRUE(target && *target);
  EXPECT_EQ((*target)->eal_device, kEth1Guid);
  EXPECT_EQ((*target)->ip.to_string(), "10.0.1.5/24");
  auto status = manager.status();
  EXPECT_EQ(status["nic"]["plan"], "use-as-bound");
  EXPECT_EQ(status["nic"]["bound_by_daemon"], false);
  EXPECT_EQ(status["nic"]["driver"], "uio_hv_generic");
  manager.stop();
  EXPECT_EQ(fake.kernel_writes(), Lines{});
  EXPECT_EQ(fake.driver_of("vmbus", kEth1Guid), "uio_hv_generic");
  EXPECT_FALSE(std::filesystem::exists(state_path(config.daemon.state_dir)));
}

TEST(NicManager, AzureManaStartsWithoutRebindWhenDpdkHasTheDriver) {
  FakeSysfs fake;
  fake.azure_dmi();
  fake.vmbus_nic("6045bda1-b201-6045-bda1-b2016045bda1", "eth0", "60:45:bd:a1:b2:01", "hv_netvsc");
  fake.vmbus_nic("6045bda1-b202-6045-bda1-b2026045bda1", "eth1", "60:45:bd:a1:b2:02", "hv_netvsc");
  fake.pci_nic("7870:00:00.0", "enP30832s1", "60:45:bd:a1:b2:01", "mana");
  fake.pci_nic("7871:00:00.0", "enP30833s2", "60:45:bd:a1:b2:02", "mana");
  fake.enslave("enP30832s1", "eth0");
  fake.enslave("enP30833s2", "eth1");
  fake.default_route("eth0");
  MetadataServer server(testing::azure_handler("azure_mana.json"));
  const Config config = testing::test_config(fake, server.url());
  {
    NicManager refused(config, fake.env_options(server.url()));
    auto r = refused.start();
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("no MANA driver"), std::string::npos) << r.error().message;
  }
  fake.dpdk_driver("librte_net_mana.so");
  NicManager manager(config, fake.env_options(server.url()));
  auto r = manager.start();
  ASSERT_TRUE(r) << r.error().message;
  auto target = manager.port_target();
  ASSERT_TRUE(target && *target);
  EXPECT_EQ((*target)->eal_device, "7871:00:00.0,mac=60:45:bd:a1:b2:02");
  manager.stop();
  EXPECT_EQ(fake.kernel_writes(), Lines{});
  EXPECT_EQ(fake.driver_of("pci", "7871:00:00.0"), "mana");
}

}  // namespace
}  // namespace machnet::nic
