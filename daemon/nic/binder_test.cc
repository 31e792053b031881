// Applying and restoring binding plans on fake sysfs trees whose kernel stand-in moves the
// `driver` links: the exact sequence of sysfs writes (and of recorded ip commands) for bind
// and for restore, per cloud; the state record written before the first change; a simulated
// crash followed by a second run that restores from the record; NicManager start/stop.
#include <gtest/gtest.h>

#include <filesystem>

#include "nic/binder.h"
#include "nic/detector.h"
#include "nic/nic_manager.h"
#include "nic/nic_test_support.h"
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

}  // namespace
}  // namespace machnet::nic
